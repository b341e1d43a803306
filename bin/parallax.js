#!/usr/bin/env node
// Parallax runs its TypeScript sources directly (Node's built-in type stripping, Node >= 22.18).
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(`parallax needs Node.js >= 22.18 (24 LTS recommended); this is ${process.version}.\n` +
    'Run it through npm (npm run parallax -- <command>), which uses the Node 24 installed in node_modules.\n');
  process.exit(2);
}
// Settle the V8 heap settings first (this may start the process again with them), then load the program.
const { relaunchWithHeapSettings } = await import('../src/cli/relaunch.ts');
relaunchWithHeapSettings(import.meta.filename);
const { main } = await import('../src/cli/main.ts');
await main();
