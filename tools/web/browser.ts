/**
 * Launches the system Chromium (Debian's /usr/bin/chromium) headless through playwright-core,
 * with a throwaway profile: no browser download, no network beyond 127.0.0.1. Used by
 * test/web/browser.test.ts and tools/web/bench.ts.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, BrowserContext } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-quic',
];

export interface Browser {
  context: BrowserContext;
  /** e.g. 'Chromium 156.0.8078.79'. */
  version: string;
  close(): Promise<void>;
}

export interface LaunchOptions {
  /**
   * WebGPU: `--enable-unsafe-webgpu` and the GPU process left on, so that headless Chromium offers
   * an adapter (SwiftShader, Vulkan on the CPU, where the machine has no GPU). Default off.
   */
  webgpu?: boolean;
}

export async function launchChromium(options: LaunchOptions = {}): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: the browser tests need Debian's chromium (apt-get install chromium), or set CHROMIUM_PATH`);
  }
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-diffusion-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: options.webgpu ? [...ARGS.filter((a) => a !== '--disable-gpu'), '--enable-unsafe-webgpu'] : ARGS,
    viewport: { width: 900, height: 1000 },
  });
  const version = execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split(' built')[0].trim();
  return {
    context,
    version,
    close: async () => {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}
