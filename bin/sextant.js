#!/usr/bin/env node
// The `sextant` command: runs the compiled CLI in dist/ (built by `npm run build`).
let cli;
try {
  cli = await import('../dist/src/cli/main.js');
} catch (e) {
  if (e?.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('dist/src/cli/main.js')) {
    process.stderr.write(
      'sextant: the TypeScript sources are not built yet; run `npm run build`\n',
    );
    process.exit(1);
  }
  throw e;
}
await cli.main(process.argv);
