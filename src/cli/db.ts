import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { MAINNET, createCommon } from '../chain/profile.ts';
import { nativeCrypto } from '../crypto/index.ts';
import { ParallaxError, isParallaxError } from '../errors.ts';
import { dirBytes } from '../node/daemon.ts';
import { NODE_FILE } from '../state/node-file.ts';
import { createDatabase } from '../state/db.ts';
import { StateStore } from '../state/store.ts';
import { hex } from '../util/bytes.ts';
import { addConfigFlags, commandConfig } from './config.ts';
import { out, writeJson } from './output.ts';

export async function openStore(dataDir: string, undoDepth: number): Promise<StateStore> {
  const dir = resolve(dataDir);
  if (!existsSync(dir)) throw new ParallaxError('STATE_MISSING', `no data directory at ${dir}`, { dataDir: dir });
  try {
    const store = await StateStore.open(createDatabase(dir), createCommon(MAINNET, nativeCrypto()), { undoDepth });
    if (store.head() === undefined) {
      await store.close();
      throw new ParallaxError('STATE_MISSING', `data directory ${dir} holds no executed block`);
    }
    return store;
  } catch (e) {
    if (isParallaxError(e, 'DB_LOCKED')) {
      throw new ParallaxError('DB_LOCKED', `data directory ${dir} is in use by a running Parallax; stop it first`, { dataDir: dir }, { cause: e });
    }
    throw e;
  }
}

const p = (b: Uint8Array) => '0x' + hex(b);

export function registerDb(program: Command): void {
  const db = program.command('db').description('inspect or repair the data directory (the daemon must be stopped)');
  const inspect = db
    .command('inspect')
    .description('executed head, roots, undo depth, accounts, size and the last mismatch')
    .option('--count', 'also count accounts and storage slots (walks the whole database)')
    .option('--json <file>', 'write the report as JSON');
  addConfigFlags(inspect, ['dataDir']).addHelpText('after', `\nExamples:\n  $ parallax db inspect --data-dir ./data\n  $ parallax db inspect --count --json db.json`);
  inspect.action(async (opts: { count?: boolean; json?: string }, c: Command) => {
    const { config } = await commandConfig(c);
    const store = await openStore(config.dataDir, config.store.undoDepth);
    try {
      const head = store.head()!;
      const report: Record<string, unknown> = {
        dataDir: resolve(config.dataDir),
        head: { number: head.number.toString(), hash: p(head.hash), stateRoot: p(head.stateRoot), receiptsRoot: p(head.receiptsRoot), gasUsed: head.gasUsed.toString(), txs: head.txCount },
        unwindable: await store.unwindableDepth(),
        bytes: await dirBytes(resolve(config.dataDir)),
        trieNodes: store.nodeFileStats() ?? null,
        verification: (await store.verification(head.number)) ?? null,
        lastMismatch: (await store.lastMismatch())?.record ?? null,
      };
      if (opts.count === true) {
        let accounts = 0;
        let slots = 0;
        for await (const { address } of store.accounts()) {
          accounts++;
          for await (const _ of store.storageOf(address)) slots++;
        }
        report.accounts = accounts;
        report.slots = slots;
      }
      out(`data directory  ${report.dataDir as string}`);
      out(`executed head   ${head.number} ${p(head.hash)}`);
      out(`state root      ${p(head.stateRoot)}`);
      out(`receipts root   ${p(head.receiptsRoot)}`);
      out(`unwindable      ${report.unwindable as number} blocks`);
      out(`size            ${((report.bytes as number) / 2 ** 20).toFixed(1)} MiB`);
      const nodes = store.nodeFileStats();
      if (nodes !== undefined) out(`trie nodes      ${nodes.nodes} in ${NODE_FILE} (${(nodes.bytes / 2 ** 20).toFixed(1)} MiB; older databases keep theirs in LevelDB)`);
      if (opts.count === true) out(`accounts        ${report.accounts as number} (${report.slots as number} storage slots)`);
      const v = report.verification as { matched?: boolean } | null;
      out(`head verified   ${v === null ? 'no record' : v.matched ? 'match' : 'MISMATCH'}`);
      const lm = report.lastMismatch as { number?: string; mismatches?: { field: string }[] } | null;
      out(`last mismatch   ${lm === null ? 'none' : `block ${lm.number} (${(lm.mismatches ?? []).map((m) => m.field).join(', ')})`}`);
      if (opts.json !== undefined) await writeJson(opts.json, report);
    } finally {
      await store.close();
    }
  });
  const unwind = db
    .command('unwind')
    .description('undo the last <n> executed blocks through the undo journal (one atomic batch per block)')
    .argument('<n>', 'number of blocks', (v) => {
      if (!/^[0-9]+$/.test(v) || Number(v) < 1) throw new InvalidArgumentError(`expected a positive number of blocks, got "${v}"`);
      return Number(v);
    });
  addConfigFlags(unwind, ['dataDir']).addHelpText('after', `\nExamples:\n  $ parallax db unwind 3 --data-dir ./data   # the daemon re-executes them on its next start`);
  unwind.action(async (n: number, _o: unknown, c: Command) => {
    const { config } = await commandConfig(c);
    const store = await openStore(config.dataDir, config.store.undoDepth);
    try {
      const from = store.head()!.number;
      const head = await store.unwind(n);
      out(`unwound ${n} block(s): executed head ${from} -> ${head.number} ${p(head.hash)}`);
    } finally {
      await store.close();
    }
  });
}
