// mocha's config. `spec` applies only when no test file is named on the command line, so that
// `npx mocha test/x/y.test.ts` runs that file alone (a .mocharc.json spec would be added to it).
const named = process.argv.slice(2).some((a) => !a.startsWith('-') && (/\.ts$/.test(a) || /(^|\/)test(\/|$)/.test(a)));
module.exports = {
  'node-option': ['import=tsx'],
  timeout: 120000,
  reporter: 'spec',
  ...(named ? {} : { spec: ['test/**/*.test.ts'] }),
};
