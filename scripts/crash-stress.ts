/**
 * Crash stress: the real daemon follows a Hardhat chain that keeps growing, and is killed with SIGKILL at a random
 * instant while it executes and commits blocks, then restarted, over and over. After every kill:
 *   - the database opens;
 *   - its executed head is the last block whose commit finished: never below the last block the daemon logged as
 *     committed (the log line follows the batch), at most one above it (batch written, line not yet out);
 *   - that head's hash and state root are the node's, and its verification record says matched.
 * At the end the daemon catches up and every block 1..head has exactly one verification record, matched, with the
 * node's state root: no block lost, skipped or executed twice, and the same roots as an uninterrupted run (the
 * node's own execution).
 *
 *   node scripts/crash-stress.ts --trials 50 [--workers 2] [--txs 20] [--json FILE]
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { MAINNET, createCommon } from '../src/chain/profile.ts';
import { nativeCrypto } from '../src/crypto/index.ts';
import { createDatabase } from '../src/state/db.ts';
import { StateStore } from '../src/state/store.ts';
import { hex } from '../src/util/bytes.ts';
import { hardhatChain, rpcBlock, spawnDaemon, type Chain } from '../test/helpers/daemon.ts';

export interface TrialResult {
  trial: number;
  delayMs: number;
  /** Last block the daemon logged as committed before it died. */
  logged: number;
  /** Executed head found in the database after the kill. */
  head: number;
  /** The kill landed after a batch was written and before its log line. */
  committedNotLogged: boolean;
}

export interface CrashReport {
  trials: number;
  workers: number;
  kills: number;
  committedNotLogged: number;
  blocks: number;
  verified: number;
  blocksLost: number;
  mismatched: number;
  results: TrialResult[];
}

async function headOf(dataDir: string): Promise<StateStore> {
  return StateStore.open(createDatabase(dataDir), createCommon(MAINNET, nativeCrypto()), { undoDepth: 128 });
}

function fail(msg: string): never {
  throw new Error(`crash stress: ${msg}`);
}

export async function crashStress(opts: { trials: number; workers: number; txs: number; log?: (l: string) => void }): Promise<CrashReport> {
  const log = opts.log ?? (() => {});
  const dir = await mkdtemp(join(tmpdir(), 'parallax-crash-'));
  const dataDir = join(dir, 'data');
  let chain: Chain | undefined;
  let mining = true;
  let miner: Promise<void> = Promise.resolve();
  try {
    chain = await hardhatChain(dir, 11);
    const c = chain;
    await c.driver.setup();
    // A backlog the daemon works through while it is being killed (it executes several blocks a second), so the
    // kills land while blocks execute and commit, not while it waits for the node.
    const backlog = opts.trials * 10 + 20;
    for (let i = 0; i < backlog; i++) {
      await c.driver.randomBlock(opts.txs);
      if (i % 50 === 49) log(`mined ${i + 1}/${backlog} backlog blocks`);
    }
    // The chain keeps growing while the daemon is killed and restarted.
    miner = (async () => {
      while (mining) {
        await c.driver.randomBlock(opts.txs);
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const args = ['--rpc', c.node.url, '--genesis', c.genesisPath, '--data-dir', dataDir, '--workers', String(opts.workers), '--set', 'source.pollMs=50', '--log-level', 'info'];
    const results: TrialResult[] = [];
    for (let trial = 1; trial <= opts.trials; trial++) {
      const d = spawnDaemon(args);
      // Wait for the first block this run commits, then kill at a random instant inside the following blocks.
      await d.waitFor((l) => l.msg === 'block', 120_000);
      const delayMs = Math.floor(Math.random() * 1500);
      await new Promise((r) => setTimeout(r, delayMs));
      d.child.kill('SIGKILL');
      const exit = await d.exited;
      if (exit.signal !== 'SIGKILL') fail(`trial ${trial}: the daemon ended with ${exit.code}/${exit.signal} before the kill: ${d.stderr.join('').slice(-500)}`);
      const logged = Math.max(0, ...d.lines.filter((l) => l.msg === 'block').map((l) => Number(l.block)));
      const store = await headOf(dataDir);
      let head: number;
      try {
        const h = store.head();
        if (h === undefined) fail(`trial ${trial}: no executed head after the kill`);
        head = Number(h.number);
        if (head < logged) fail(`trial ${trial}: head ${head} is below block ${logged}, which was logged as committed`);
        if (head > logged + 1) fail(`trial ${trial}: head ${head} is more than one block past the last logged block ${logged}`);
        const canonical = await rpcBlock(c.rpc, h.number);
        if ('0x' + hex(h.hash) !== canonical.hash || '0x' + hex(h.stateRoot) !== canonical.stateRoot) {
          fail(`trial ${trial}: head ${head} is not the node's block (hash ${hex(h.hash)} vs ${canonical.hash})`);
        }
        const v = (await store.verification(h.number)) as { matched?: boolean } | undefined;
        if (v?.matched !== true) fail(`trial ${trial}: head ${head} has no matched verification record`);
      } finally {
        await store.close();
      }
      const r: TrialResult = { trial, delayMs, logged, head, committedNotLogged: head === logged + 1 };
      results.push(r);
      log(`trial ${String(trial).padStart(3)}: killed ${String(delayMs).padStart(3)} ms after the first block; last logged ${logged}, head after restart ${head}${r.committedNotLogged ? ' (committed, not yet logged)' : ''}`);
    }
    mining = false;
    await miner;
    // Catch up without interruption, then check every block.
    const target = BigInt((await rpcBlock(c.rpc, 'latest')).number);
    const d = spawnDaemon(args);
    await d.waitFor((l) => l.msg === 'block' && BigInt(l.block as number) >= target, 300_000);
    d.child.kill('SIGTERM');
    await d.exited;
    const store = await headOf(dataDir);
    let verified = 0;
    let mismatched = 0;
    let lost = 0;
    let blocks = 0;
    try {
      const head = store.head()!.number;
      blocks = Number(head);
      for (let n = 1n; n <= head; n++) {
        const rec = await store.blockRecord(n);
        const v = (await store.verification(n)) as { matched?: boolean } | undefined;
        if (rec === undefined || v === undefined) {
          lost++;
          continue;
        }
        const canonical = await rpcBlock(c.rpc, n);
        if (v.matched !== true || '0x' + hex(rec.stateRoot) !== canonical.stateRoot || '0x' + hex(rec.hash) !== canonical.hash) mismatched++;
        else verified++;
      }
    } finally {
      await store.close();
    }
    const report: CrashReport = {
      trials: opts.trials,
      workers: opts.workers,
      kills: results.length,
      committedNotLogged: results.filter((r) => r.committedNotLogged).length,
      blocks,
      verified,
      blocksLost: lost,
      mismatched,
      results,
    };
    log(
      `${report.kills} kills (${report.committedNotLogged} after a batch was written and before its log line); ${blocks} blocks, ${verified} verified with the node's roots, ${lost} lost, ${mismatched} mismatched`,
    );
    return report;
  } finally {
    mining = false;
    await miner.catch(() => {});
    await chain?.node.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { trials: { type: 'string', default: '50' }, workers: { type: 'string', default: '2' }, txs: { type: 'string', default: '20' }, json: { type: 'string' } } });
  const report = await crashStress({ trials: Number(values.trials), workers: Number(values.workers), txs: Number(values.txs), log: (l) => console.log(l) });
  if (values.json !== undefined) await writeFile(values.json, JSON.stringify(report, null, 2) + '\n');
  if (report.blocksLost > 0 || report.mismatched > 0) process.exit(1);
}
