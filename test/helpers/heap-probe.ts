// Started by relaunch.test.ts as the entry script: settles the heap settings as bin/parallax.js does, then reports
// what this process runs with.
import { getHeapSpaceStatistics } from 'node:v8';
import { relaunchWithHeapSettings } from '../../src/cli/relaunch.ts';

relaunchWithHeapSettings(import.meta.filename);
const newSpace = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size;
process.stdout.write(JSON.stringify({ pid: process.pid, execArgv: process.execArgv, args: process.argv.slice(2), newSpace }));
