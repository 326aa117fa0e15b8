/**
 * labels.csv for multi-label conditioning: a header `file,label1,label2,...`, then one row per
 * image with its path (relative to the folder) and a 0/1 value per label column.
 */
import { readTextLimited } from '../core/node/read-limits';
import { FileFormatError } from '../core/errors';

export interface LabelTable {
  names: string[];
  /** Relative file path (forward slashes) -> 0/1 values. */
  rows: Map<string, Uint8Array>;
}

/** Parses labels.csv; errors name the file and line. */
export function readLabelsCsv(file: string): LabelTable {
  const lines = readTextLimited(file, 'text', 'labels file').split(/\r?\n/);
  const header = lines[0].split(',').map((s) => s.trim());
  if (header.length < 2 || header[0] !== 'file') {
    throw new FileFormatError(file, 'line 1: expected a header "file,label1,label2,..."');
  }
  const names = header.slice(1);
  const rows = new Map<string, Uint8Array>();
  for (let ln = 1; ln < lines.length; ln++) {
    const line = lines[ln].trim();
    if (line === '') continue;
    const cells = line.split(',').map((s) => s.trim());
    const where = `line ${ln + 1}`;
    if (cells.length !== header.length) {
      throw new FileFormatError(file, `${where}: ${cells.length} values, expected ${header.length} (file + ${names.length} labels)`);
    }
    const values = new Uint8Array(names.length);
    for (let k = 0; k < names.length; k++) {
      const v = cells[k + 1];
      if (v !== '0' && v !== '1') {
        throw new FileFormatError(file, `${where}: label '${names[k]}' is '${v}', expected 0 or 1`);
      }
      values[k] = Number(v);
    }
    const key = cells[0].replace(/\\/g, '/');
    if (rows.has(key)) throw new FileFormatError(file, `${where}: '${key}' is listed twice`);
    rows.set(key, values);
  }
  return { names, rows };
}
