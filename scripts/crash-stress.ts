/**
 * Crash stress: the real daemon (`parallax run`) follows a Hardhat chain that keeps growing, and is killed with
 * SIGKILL at a random instant while it executes and commits blocks (it works through a backlog, so it is always
 * busy), then restarted, over and over.
 *
 * "The last fully committed block" is observable from outside: every block is written in one atomic LevelDB batch
 * (state, block record, verification record, trace), the daemon logs `committing` (debug) once the previous block's
 * batch is in LevelDB and before this block's, and `block` once this block's is (a worker may write it while the next
 * block executes), and stdout to a pipe is written synchronously. So after a kill:
 *   - the executed head (read by `parallax db inspect --json`, a fresh process: the database opens) is the last
 *     block logged as `block`, or the one after it if the kill fell between its batch and its log line;
 *   - if the kill fell inside a commit (`committing n` logged, `block n` not), the head is n - 1 (the batch had not
 *     landed: nothing of it is in the database) or n (it had), never anything in between;
 *   - that head is the node's block (hash, state root) and its verification record says matched;
 *   - the restarted daemon resumes at head + 1: its first executed block is head + 1.
 * At the end the daemon catches up without interruption, and an uninterrupted reference run (a fresh data directory,
 * the same chain) executes the same blocks: every block 1..N has the same hash, state root, receipts root, logs bloom
 * and gas in both, a matched verification record and the node's roots. Across all runs no committed block was
 * executed twice and none is missing.
 *
 *   node scripts/crash-stress.ts --trials 50 [--workers 2] [--txs 20] [--json FILE]
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { MAINNET, createCommon } from '../src/chain/profile.ts';
import { nativeCrypto } from '../src/crypto/index.ts';
import { createDatabase } from '../src/state/db.ts';
import { StateStore, type BlockRecord } from '../src/state/store.ts';
import { hex } from '../src/util/bytes.ts';
import { PROJECT_ROOT } from '../src/util/paths.ts';
import { hardhatChain, rpcBlock, spawnDaemon, type Chain, type DaemonProcess } from '../test/helpers/daemon.ts';

export interface TrialResult {
  trial: number;
  /** Kill this long after the run's first committed block. */
  delayMs: number;
  /** Where the kill landed: inside a commit (`committing n` logged, `block n` not), or executing/fetching a block. */
  phase: 'commit' | 'execute';
  /** Last block the daemon logged as committed before it died (0 if none in this run). */
  logged: number;
  /** With phase commit: the block whose commit the kill interrupted. */
  committing?: number;
  /** Executed head found in the database after the kill (`parallax db inspect --json`). */
  head: number;
  /** The kill landed after a batch was written and before its log line (head = logged + 1). */
  committedNotLogged: boolean;
  /** The first block the next run executed (head + 1 if it resumed right). */
  resumedAt?: number;
}

export interface CrashReport {
  trials: number;
  workers: number;
  kills: number;
  /** Kills inside a commit window, and of those how many found the batch written (head = the block) or absent. */
  midCommit: number;
  midCommitLanded: number;
  committedNotLogged: number;
  /** Kills after which the head was the last committed block (all of them, or the run failed). */
  headsRight: number;
  blocks: number;
  verified: number;
  blocksLost: number;
  executedTwice: number;
  /** Blocks whose roots differ from the uninterrupted reference run, or whose verification is not matched. */
  mismatched: number;
  seconds: number;
  results: TrialResult[];
}

function fail(msg: string): never {
  throw new Error(`crash stress: ${msg}`);
}

async function openStore(dataDir: string): Promise<StateStore> {
  return StateStore.open(createDatabase(dataDir), createCommon(MAINNET, nativeCrypto()), { undoDepth: 128 });
}

/** `parallax db inspect --json`: the head and its verification record, read by a fresh process. */
async function inspect(dataDir: string, file: string): Promise<{ head: { number: string; hash: string; stateRoot: string }; verification: { matched?: boolean } | null }> {
  const child = spawn(process.execPath, [join(PROJECT_ROOT, 'bin/parallax.js'), 'db', 'inspect', '--data-dir', dataDir, '--json', file], { cwd: PROJECT_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  if (code !== 0) fail(`parallax db inspect exited with ${code}: ${stderr.slice(-500)}`);
  return JSON.parse(await readFile(file, 'utf8'));
}

const rootsOf = (r: BlockRecord) => ({ hash: hex(r.hash), stateRoot: hex(r.stateRoot), receiptsRoot: hex(r.receiptsRoot), logsBloom: hex(r.logsBloom), gasUsed: r.gasUsed.toString() });

export async function crashStress(opts: { trials: number; workers: number; txs: number; log?: (l: string) => void }): Promise<CrashReport> {
  const log = opts.log ?? (() => {});
  const t0 = performance.now();
  const dir = await mkdtemp(join(tmpdir(), 'parallax-crash-'));
  const dataDir = join(dir, 'data');
  const refDir = join(dir, 'reference');
  let chain: Chain | undefined;
  let mining = true;
  let miner: Promise<void> = Promise.resolve();
  const live: DaemonProcess[] = [];
  try {
    chain = await hardhatChain(dir, 11);
    const c = chain;
    await c.driver.setup();
    // A backlog the daemon works through while it is being killed (it executes several blocks a second), so the
    // kills land while blocks execute and commit, not while it waits for the node.
    const backlog = opts.trials * 10 + 20;
    for (let i = 0; i < backlog; i++) {
      await c.driver.randomBlock(opts.txs);
      if (i % 100 === 99) log(`mined ${i + 1}/${backlog} backlog blocks`);
    }
    // The chain keeps growing while the daemon is killed and restarted.
    miner = (async () => {
      while (mining) {
        await c.driver.randomBlock(opts.txs);
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const args = (data: string, level: string) => ['--rpc', c.node.url, '--genesis', c.genesisPath, '--data-dir', data, '--workers', String(opts.workers), '--set', 'source.pollMs=50', '--log-level', level];
    const results: TrialResult[] = [];
    /** Every `block` line of every run of the stressed daemon. */
    const executed: number[] = [];
    const blocksOf = (d: DaemonProcess) => d.lines.filter((l) => l.msg === 'block').map((l) => Number(l.block));
    for (let trial = 1; trial <= opts.trials; trial++) {
      const d = spawnDaemon(args(dataDir, 'debug'));
      live.push(d);
      // Wait for the first block this run commits, then kill at a random instant inside the following blocks.
      const first = Number((await d.waitFor((l) => l.msg === 'block', 120_000)).block);
      if (trial > 1) {
        const prev = results[trial - 2];
        prev.resumedAt = first;
        if (first !== prev.head + 1) fail(`trial ${trial}: the restarted daemon executed block ${first} first, the head was ${prev.head}`);
      }
      const delayMs = Math.floor(Math.random() * 1500);
      await new Promise((r) => setTimeout(r, delayMs));
      d.child.kill('SIGKILL');
      const exit = await d.exited;
      live.pop();
      if (exit.signal !== 'SIGKILL') fail(`trial ${trial}: the daemon ended with ${exit.code}/${exit.signal} before the kill: ${d.stderr.join('').slice(-500)}`);
      executed.push(...blocksOf(d));
      const logged = Math.max(0, ...blocksOf(d));
      const lastLine = [...d.lines].reverse().find((l) => l.msg === 'block' || l.msg === 'committing');
      const committing = lastLine?.msg === 'committing' ? Number(lastLine.block) : undefined;
      const info = await inspect(dataDir, join(dir, 'inspect.json'));
      const head = Number(info.head.number);
      if (head < logged) fail(`trial ${trial}: head ${head} is below block ${logged}, which was logged as committed`);
      if (head > logged + 1) fail(`trial ${trial}: head ${head} is more than one block past the last logged block ${logged}`);
      if (committing !== undefined && head !== committing - 1 && head !== committing) fail(`trial ${trial}: killed while committing ${committing}, head ${head}`);
      const canonical = await rpcBlock(c.rpc, BigInt(head));
      if (info.head.hash !== canonical.hash || info.head.stateRoot !== canonical.stateRoot) {
        fail(`trial ${trial}: head ${head} is not the node's block (hash ${info.head.hash} vs ${canonical.hash})`);
      }
      if (info.verification?.matched !== true) fail(`trial ${trial}: head ${head} has no matched verification record`);
      const r: TrialResult = { trial, delayMs, phase: committing === undefined ? 'execute' : 'commit', logged, committing, head, committedNotLogged: head === logged + 1 };
      results.push(r);
      const where = committing === undefined ? 'executing' : `committing ${committing}, batch ${head === committing ? 'written' : 'not written'}`;
      log(`trial ${String(trial).padStart(3)}: killed ${String(delayMs).padStart(4)} ms after the first block (${where}); last logged ${logged}, head ${head}${r.committedNotLogged ? ' (committed, not yet logged)' : ''}: ok`);
    }
    mining = false;
    await miner;
    // Catch up without interruption, then an uninterrupted reference run over the same chain.
    const target = BigInt((await rpcBlock(c.rpc, 'latest')).number);
    const catchUp = async (data: string, level: string) => {
      const d = spawnDaemon(args(data, level));
      live.push(d);
      await d.waitFor((l) => l.msg === 'block' && BigInt(l.block as number) >= target, 600_000);
      d.child.kill('SIGTERM');
      const exit = await d.exited;
      live.pop();
      if (exit.code !== 0) fail(`a daemon stopped with SIGTERM exited with ${exit.code}/${exit.signal}`);
      return d;
    };
    const last = await catchUp(dataDir, 'debug');
    results[results.length - 1].resumedAt = blocksOf(last)[0];
    if (blocksOf(last)[0] !== results[results.length - 1].head + 1) fail(`the final run executed block ${blocksOf(last)[0]} first, the head was ${results[results.length - 1].head}`);
    executed.push(...blocksOf(last));
    log(`caught up to block ${target}; reference run (uninterrupted, fresh data directory)`);
    await catchUp(refDir, 'info');

    const store = await openStore(dataDir);
    const ref = await openStore(refDir);
    let verified = 0;
    let mismatched = 0;
    let lost = 0;
    let blocks = 0;
    try {
      const head = store.head()!.number;
      blocks = Number(head);
      for (let n = 1n; n <= head; n++) {
        const [rec, refRec, v] = [await store.blockRecord(n), await ref.blockRecord(n), (await store.verification(n)) as { matched?: boolean } | undefined];
        if (rec === undefined || v === undefined) {
          lost++;
          log(`block ${n}: no ${rec === undefined ? 'record' : 'verification record'}`);
          continue;
        }
        const canonical = await rpcBlock(c.rpc, n);
        const same = refRec !== undefined && JSON.stringify(rootsOf(rec)) === JSON.stringify(rootsOf(refRec));
        if (!same || v.matched !== true || '0x' + hex(rec.stateRoot) !== canonical.stateRoot || '0x' + hex(rec.hash) !== canonical.hash) {
          mismatched++;
          log(`block ${n}: differs (reference ${same ? 'same' : 'different'}, verification ${String(v.matched)})`);
        } else verified++;
      }
    } finally {
      await store.close();
      await ref.close();
    }
    // No committed block executed twice; the only blocks never logged are those committed just before a kill.
    const counts = new Map<number, number>();
    for (const n of executed) counts.set(n, (counts.get(n) ?? 0) + 1);
    const executedTwice = [...counts.values()].filter((k) => k > 1).length;
    const unlogged = new Set(results.filter((r) => r.committedNotLogged).map((r) => r.head));
    for (let n = 1; n <= blocks; n++) {
      if (!counts.has(n) && !unlogged.has(n)) {
        lost++;
        log(`block ${n}: never executed by any run`);
      }
    }
    const midCommit = results.filter((r) => r.phase === 'commit');
    const report: CrashReport = {
      trials: opts.trials,
      workers: opts.workers,
      kills: results.length,
      midCommit: midCommit.length,
      midCommitLanded: midCommit.filter((r) => r.head === r.committing).length,
      committedNotLogged: results.filter((r) => r.committedNotLogged).length,
      headsRight: results.length,
      blocks,
      verified,
      blocksLost: lost,
      executedTwice,
      mismatched,
      seconds: Math.round((performance.now() - t0) / 1000),
      results,
    };
    log(
      `crash stress: ${report.trials} trials, ${report.kills} kills with SIGKILL (${report.midCommit} inside a commit: ${report.midCommitLanded} after the batch landed, ` +
        `${report.midCommit - report.midCommitLanded} before; ${report.kills - report.midCommit} while executing); head after every kill = last committed block ` +
        `${report.headsRight}/${report.kills}; ${blocks} blocks, ${verified} with the reference run's roots and matched; blocks lost ${lost}, executed twice ${executedTwice}, ` +
        `mismatches ${mismatched}; ${report.seconds} s`,
    );
    return report;
  } finally {
    mining = false;
    await miner.catch(() => {});
    for (const d of live) if (d.child.exitCode === null) d.child.kill('SIGKILL');
    await chain?.node.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { trials: { type: 'string', default: '50' }, workers: { type: 'string', default: '2' }, txs: { type: 'string', default: '20' }, json: { type: 'string' } } });
  const report = await crashStress({ trials: Number(values.trials), workers: Number(values.workers), txs: Number(values.txs), log: (l) => console.log(l) });
  if (values.json !== undefined) await writeFile(values.json, JSON.stringify(report, null, 2) + '\n');
  if (report.blocksLost > 0 || report.mismatched > 0 || report.executedTwice > 0) process.exit(1);
}
