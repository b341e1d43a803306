/**
 * Execution worker (a worker_threads thread with its own EVM).
 *
 * State design: each worker keeps a replicated read cache of the committed state (accounts, slots, code) that lives
 * across blocks. A cache miss is read straight from LevelDB (the main thread's database, opened again here through
 * classic-level's multithreading: committed state only, which is what speculation must see); where that is not
 * possible (an in-memory database, reads being recorded) it is one request to the main thread. After every committed
 * block the main thread broadcasts the block's diff so the caches stay exact.
 *
 * Per block the worker runs its partition in block order on an overlay over that cache: the pre-state plus the
 * writes of the partition's earlier transactions. Every run reports its exact read set (value seen per key) and
 * write set; the main thread decides what commits.
 */
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { createBlock, type Block } from '@ethereumjs/block';
import type { TypedTransaction } from '@ethereumjs/tx';
import { Account, Address, KECCAK256_NULL, equalsBytes } from '@ethereumjs/util';
import { runTx, type VM } from '@ethereumjs/vm';
import type { Common } from '@ethereumjs/common';
import type { EVMMockBlockchainInterface } from '@ethereumjs/evm';
import { createCommon, type ChainProfile } from '../chain/profile.ts';
import { loadKzg, nativeCrypto } from '../crypto/index.ts';
import { errorMessage } from '../errors.ts';
import { OverlayStateManager, forgetInternedCode, type TxAccess } from '../state/overlay.ts';
import { openSharedReader } from '../state/db.ts';
import { accountReadKey, codeReadKey, nodeReadKey, storageReadKey } from '../state/keys.ts';
import { AccountFilter } from '../state/account-filter.ts';
import { isStorageJob, updateShard, updateStorage } from '../state/trie.ts';
import { NodeCache, type NodeLoader } from '../state/mpt.ts';
import { NodeFileReader, type NodeFileView } from '../state/node-file.ts';
import { NOT_NOW, type NotNow, type StateReader } from '../state/types.ts';
import { fromHex, hex } from '../util/bytes.ts';
import { EMPTY_BLOOM } from '../util/bloom-bits.ts';
import { currentThreadId } from '../util/threads.ts';
import { createChainVM, markPostExecution, outcomeOf } from './executor.ts';
import { runPlainTransfer } from './transfer.ts';
import { decodeTx, pinSender, recoverSenderKey, sharedTxCommon } from './tx-common.ts';
import { beginFrontierTx } from '../chain/frontier-meters.ts';
import { RECOVERED, RECOVER_CHUNK, packRuns, packedTx, type BlockStart, type RunResult, type ToMain, type ToWorker, type WorkerFaults, type WorkerInit } from './protocol.ts';
import { keccak256 } from '../crypto/index.ts';
import { ReceiptsBuilder } from './receipts-job.ts';
import { decodeAccountRecord } from '../state/account-record.ts';
import { unpackCommit } from '../state/commit-pack.ts';
import { writeBlock } from '../state/block-write.ts';

const port = parentPort!;
const init = workerData as WorkerInit;
const post = (m: ToMain, transfer?: ArrayBuffer[]) => port.postMessage(m, transfer);

let nextId = 0;
const pending = new Map<number, (v: Uint8Array | null) => void>();
function ask(kind: 'a' | 's' | 'c' | 'h', key: string): Promise<Uint8Array | null> {
  // The main thread may be waiting for runs already done: hand them over before waiting on it.
  flush();
  const id = nextId++;
  return new Promise((resolve) => {
    pending.set(id, resolve);
    post({ t: 'get', id, kind, key });
  });
}

const EMPTY = new Uint8Array(0);

/** The replicated cache of committed state; misses go to the main thread. */
/**
 * Entries a worker's replicated cache may hold before it starts over (between blocks). A long-running daemon touches
 * ever more state; without a bound every worker would keep a copy of all of it.
 */
const CACHE_LIMIT = 400_000;
/** Decoded trie nodes a worker keeps for its state-root shares: the main thread's bound (a tenth of its 500,000 entries). */
const TRIE_NODES = 50_000;

type Handle = { location: string; db: Awaited<ReturnType<typeof openSharedReader>> };

/** The main thread's LevelDB, read directly while `direct` (see the 'block' message). */
let reader: Handle | undefined;
let direct = false;
/**
 * The main thread's filter of the addresses with an account in that database: an address it rules out is read as no
 * account without LevelDB. Set by each 'block' message.
 */
let accountFilter: AccountFilter | undefined;

/** A handle on the LevelDB at `location`: `old` if it is one, else a new one (`old` is closed). */
async function reopen(old: Handle | undefined, location: string): Promise<Handle> {
  if (old?.location === location) return old;
  await old?.db.close();
  return { location, db: await openSharedReader(location) };
}

async function useDatabase(location: string | undefined): Promise<void> {
  direct = false;
  if (location === undefined) return;
  if (reader?.location !== location) {
    const old = reader;
    reader = undefined;
    // A database that cannot be opened here fails the block (the worker is replaced, the block runs serially, and the
    // reason is logged): never a silent switch to slower reads.
    reader = await reopen(old, location);
  }
  direct = true;
}

class WorkerCache implements StateReader {
  accounts = new Map<string, Uint8Array | null>();
  slots = new Map<string, Map<string, Uint8Array>>();
  codes = new Map<string, Uint8Array>();
  /** Slot entries across all accounts (the other maps know their own size). */
  slotCount = 0;

  size(): number {
    return this.accounts.size + this.slotCount + this.codes.size;
  }

  clear(): void {
    this.accounts.clear();
    this.slots.clear();
    this.codes.clear();
    this.slotCount = 0;
  }

  dropSlotsOf(address: string): void {
    this.slotCount -= this.slots.get(address)?.size ?? 0;
    this.slots.delete(address);
  }

  async getAccount(address: Uint8Array): Promise<Account | undefined> {
    const k = hex(address);
    const now = this.accountNow(k);
    if (now !== NOT_NOW) return now;
    const rlp = await ask('a', k);
    this.accounts.set(k, rlp);
    return rlp === null ? undefined : decodeAccountRecord(rlp);
  }

  /** Cached, or read from LevelDB while `direct`; else only the main thread can answer. */
  accountNow(k: string): Account | undefined | NotNow {
    let rlp = this.accounts.get(k);
    if (rlp === undefined) {
      if (!direct) return NOT_NOW;
      rlp = accountFilter !== undefined && !accountFilter.mayContain(k) ? null : (reader!.db.getSync(accountReadKey(k)) ?? null);
      this.accounts.set(k, rlp);
    }
    return rlp === null ? undefined : decodeAccountRecord(rlp);
  }

  async getStorage(address: Uint8Array, slot: Uint8Array): Promise<Uint8Array> {
    const a = hex(address);
    const s = hex(slot);
    const now = this.storageNow(a, s);
    if (now !== NOT_NOW) return now;
    const got = (await ask('s', a + s)) ?? EMPTY;
    this.setSlot(a + s, got, true);
    return got;
  }

  storageNow(a: string, s: string): Uint8Array | NotNow {
    const v = this.slots.get(a)?.get(s);
    if (v !== undefined) return v;
    if (!direct) return NOT_NOW;
    const got = reader!.db.getSync(storageReadKey(a, s)) ?? EMPTY;
    this.setSlot(a + s, got, true);
    return got;
  }

  /** Cache a slot value by address + slot (hex); `overwrite` false keeps a value already cached. */
  setSlot(key: string, value: Uint8Array, overwrite: boolean): void {
    this.setSlotOf(key.slice(0, 40), key.slice(40), value, overwrite);
  }

  /** `setSlot` by address and slot (hex). */
  setSlotOf(a: string, slot: string, value: Uint8Array, overwrite: boolean): void {
    let m = this.slots.get(a);
    if (m === undefined) {
      m = new Map();
      this.slots.set(a, m);
    }
    if (!m.has(slot)) this.slotCount++;
    else if (!overwrite) return;
    m.set(slot, value);
  }

  async getCode(codeHash: Uint8Array): Promise<Uint8Array> {
    const k = hex(codeHash);
    let c = this.codes.get(k);
    if (c === undefined) {
      // Code not found directly is asked for: the main thread raises the typed error for state that is missing.
      c = (direct && !equalsBytes(codeHash, KECCAK256_NULL) ? reader!.db.getSync(codeReadKey(codeHash)) : undefined) ?? (await ask('c', k)) ?? EMPTY;
      this.codes.set(k, c);
    }
    return c;
  }
}

const cache = new WorkerCache();
const state = new OverlayStateManager(cache);
const kzg = init.kzg ? await loadKzg() : undefined;
const blockchain: EVMMockBlockchainInterface = {
  getBlock: async (n: number | bigint | Uint8Array) => {
    const h = typeof n === 'object' ? null : await ask('h', BigInt(n).toString());
    return { hash: () => h ?? new Uint8Array(32) };
  },
  putBlock: async () => {},
  shallowCopy(): EVMMockBlockchainInterface {
    return this;
  },
};

interface ChainVM {
  common: Common;
  vm: VM;
  /** Decodes this block's transactions (see sharedTxCommon); its hardfork follows the VM's. */
  txCommon: Common;
}
/** One EVM per chain profile the main thread has sent (usually one; the conformance runner switches per test). */
const vms = new Map<string, ChainVM>();

async function vmFor(profile: ChainProfile): Promise<ChainVM> {
  const key = JSON.stringify(profile);
  let c = vms.get(key);
  if (c === undefined) {
    const common = createCommon(profile, nativeCrypto(kzg));
    const vm = await createChainVM(common, state, blockchain, profile.frontier);
    markPostExecution(vm, state);
    c = { common, vm, txCommon: sharedTxCommon(common) };
    vms.set(key, c);
  }
  return c;
}

let current: ChainVM = await vmFor(init.profile);

/** Test hook: faults armed for the next block only. */
let armedFaults: WorkerFaults = {};
let faults: WorkerFaults = {};
let seq = -1;
/** Blocks the main thread gave up on (fallback, abandoned speculation): their remaining transactions are skipped. */
const abortFlag = new Int32Array(init.abortFlag);
let block: Block | undefined;
let coinbase = '';
/** The block's writes before its transactions (system operations), the base of every group a worker takes. */
let blockPre: TxAccess | undefined;
let decoded = new Map<number, TypedTransaction>();
/**
 * Transactions of coming blocks decoded by the ahead recovery, by the 'recover' request's seq, kept for the block's run
 * when its rules (the decoding Common and hardfork) turn out the same. At most two blocks: the next one, and the one
 * after it when the next runs on the main thread.
 */
type AheadTxs = { common: Common; hardfork: string; txs: Map<number, TypedTransaction> };
const aheadDecoded = new Map<number, AheadTxs>();
const AHEAD_BLOCKS = 2;

function decode(index: number, raw: Uint8Array): TypedTransaction {
  let tx = decoded.get(index);
  if (tx === undefined) {
    tx = decodeTx(raw, current.txCommon);
    decoded.set(index, tx);
  }
  return tx;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function runOne(index: number, raw: Uint8Array, pubkey: Uint8Array | null): Promise<void> {
  const t0 = performance.now();
  if (faults.crashAtTx === index) throw new Error(`injected worker crash at transaction ${index}`);
  if (faults.hangAtTx === index) {
    flush();
    await new Promise(() => {});
  }
  if (faults.stallAtTx?.index === index) {
    flush();
    await sleep(faults.stallAtTx.ms);
  }
  if (init.delayMs !== undefined && init.delayMs > 0) await sleep(Math.random() * init.delayMs);
  const mySeq = seq;
  let outcome = null;
  let error: string | null = null;
  let access: TxAccess;
  state.beginTx(coinbase);
  try {
    const tx = decode(index, raw);
    pinSender(tx, pubkey ?? undefined);
    beginFrontierTx(current.vm, tx);
    outcome = (await runPlainTransfer(current.vm, state, tx, block!)) ?? outcomeOf(await runTx(current.vm, { tx, block: block! }), tx.type);
  } catch (e) {
    error = errorMessage(e);
  } finally {
    access = state.endTx();
  }
  if (mySeq !== seq) return;
  // A run without logs has an all-zero bloom: send the one shared zero bloom, cloned once per batch, not one each.
  if (outcome !== null && outcome.logs.length === 0) outcome.bloom = EMPTY_BLOOM;
  outbox.push({ index, outcome, error, access, start: performance.timeOrigin + t0, ms: performance.now() - t0 });
  if (outbox.length >= RESULT_BATCH) flush();
}

/**
 * Runs are reported in batches of this many (and whenever the worker is about to wait or its partition is done):
 * a message per transaction cost both threads more than a simple transfer's execution.
 */
const RESULT_BATCH = 8;
let outbox: RunResult[] = [];

function flush(): void {
  if (outbox.length === 0) return;
  packLogs(outbox);
  post({ t: 'results', seq, runs: packRuns(outbox) });
  outbox = [];
}

/**
 * The batch's log bytes and blooms copied into one buffer, each replaced by a view of it: the message then clones
 * one buffer, not one per address, topic, datum and bloom (an ERC-20 transfer's log alone has six), and the main
 * thread allocates one in place of all of them.
 */
function packLogs(runs: RunResult[]): void {
  let size = 0;
  for (const r of runs) {
    const o = r.outcome;
    if (o === null || o.logs.length === 0) continue;
    size += 256;
    for (const [address, topics, data] of o.logs) {
      size += address.length + data.length;
      for (const t of topics) size += t.length;
    }
  }
  if (size === 0) return;
  const buf = new Uint8Array(size);
  let p = 0;
  const put = (b: Uint8Array): Uint8Array => {
    buf.set(b, p);
    p += b.length;
    return buf.subarray(p - b.length, p);
  };
  for (const r of runs) {
    const o = r.outcome;
    if (o === null || o.logs.length === 0) continue;
    o.bloom = put(o.bloom ?? EMPTY_BLOOM);
    o.logs = o.logs.map(([address, topics, data]) => [put(address), topics.map(put), put(data)]);
  }
}

/**
 * Decoded trie nodes of this worker's shards of the state trie and of storage tries. The main thread gives each
 * worker the same nibble range every block, so the levels they rewrite stay here; nodes are content-addressed, so an
 * entry is never stale.
 */
const trieNodes = new NodeCache(TRIE_NODES);
/** A LevelDB handle of the trie shares' own, for a database the execution reader does not have open. */
let trieDb: Handle | undefined;
/** The database's trie node file (its index comes with each job); LevelDB has the nodes of older databases. */
let nodeFile: NodeFileReader | undefined;

function useNodeFile(view: NodeFileView | undefined): NodeFileReader | undefined {
  if (view === undefined || nodeFile?.path !== view.path || nodeFile.opening !== view.opening) {
    nodeFile?.close();
    nodeFile = view === undefined ? undefined : NodeFileReader.reader(view);
  }
  nodeFile?.use(view!.index);
  return nodeFile;
}

async function shardTrie(m: Extract<ToWorker, { t: 'trie' }>): Promise<void> {
  if (faults.crashInTrie === true) throw new Error('injected worker crash in a state-root share');
  // Usually the database the block's execution reads (opened at its 'block' message); else a handle of its own.
  if (reader?.location !== m.db) trieDb = await reopen(trieDb, m.db);
  const db = reader?.location === m.db ? reader.db : trieDb!.db;
  const file = useNodeFile(m.nodes);
  const load: NodeLoader = (h, hash) => file?.get(hash) ?? db.getSync(nodeReadKey(h));
  if (isStorageJob(m.job)) {
    const result = updateStorage(m.job, load, trieNodes);
    post({ t: 'trie', id: m.id, result }, [result.nodes.buffer as ArrayBuffer]);
    return;
  }
  const result = updateShard(m.job, load, trieNodes);
  post({ t: 'trie', id: m.id, result }, [result.nodes.buffer as ArrayBuffer, result.accounts.buffer as ArrayBuffer]);
}

/** Receipts under way, by block (see receipts-job.ts): one at a time in practice. */
const receiptBuilders = new Map<number, ReceiptsBuilder>();

function receiptsBatch(m: Extract<ToWorker, { t: 'receipts' }>): void {
  let b = receiptBuilders.get(m.id);
  if (b === undefined) {
    // A block whose receipts were begun and never finished (it was invalid, or run again after a failure) is dropped.
    receiptBuilders.clear();
    receiptBuilders.set(m.id, (b = new ReceiptsBuilder()));
  }
  b.add(m.batch);
  if (!m.last) return;
  receiptBuilders.delete(m.id);
  if (armedFaults.crashInReceipts === true || faults.crashInReceipts === true) throw new Error('injected worker crash in a block\'s receipts');
  const result = b.finish();
  post({ t: 'receipts', id: m.id, result }, [result.encoded.buffer as ArrayBuffer, result.blooms.buffer as ArrayBuffer]);
}

/**
 * What a record held before the block being written, if the replicated cache knows: it holds the committed state up to
 * the previous block (the block's own 'commit' comes after its 'write', in the same queue).
 */
function recall(key: Uint8Array): Uint8Array | null | undefined {
  if (key.length === 21) return cache.accounts.get(hex(key.subarray(1)));
  return cache.slots.get(hex(key.subarray(1, 21)))?.get(hex(key.subarray(21)));
}

/** A LevelDB handle of the block writes' own (see block-write.ts), kept from one block to the next. */
let writeDb: Handle | undefined;

/**
 * Write a committed block's batch (the main thread goes on with the next block meanwhile). A batch LevelDB refuses is
 * reported; the main thread then writes it itself, or stops.
 */
async function writeBatch(m: Extract<ToWorker, { t: 'write' }>): Promise<void> {
  if (armedFaults.crashInWrite === true || faults.crashInWrite === true) throw new Error('injected worker crash while writing a block\'s batch');
  const delay = armedFaults.writeDelayMs ?? faults.writeDelayMs;
  if (delay !== undefined) await sleep(delay);
  writeDb = await reopen(writeDb, m.db);
  try {
    await writeBlock(writeDb.db, m.write, recall);
  } catch (e) {
    post({ t: 'written', id: m.id, error: errorMessage(e) });
    return;
  }
  post({ t: 'written', id: m.id });
}

/**
 * Messages are handled strictly in arrival order, one at a time (state-root shares and receipts apart: they touch no
 * block state).
 */
let queue: Promise<void> = Promise.resolve();
let trieQueue: Promise<void> = Promise.resolve();
let receiptsQueue: Promise<void> = Promise.resolve();
const crash = (e: unknown) => {
  // An unexpected failure poisons this worker: crash so the pool replaces it; the block (or its state root) is then
  // done on the main thread.
  setImmediate(() => {
    throw e;
  });
};
port.on('message', (m: ToWorker) => {
  if (m.t === 'value') {
    const r = pending.get(m.id);
    pending.delete(m.id);
    r?.(m.value);
    return;
  }
  if (m.t === 'faults') {
    armedFaults = m.faults;
    return;
  }
  if (m.t === 'stop') {
    // A message runs between two tasks, never inside a native call (keccak, secp256k1, LevelDB), where being
    // terminated from outside makes node-addon-api abort the whole process.
    process.exit(0);
  }
  if (m.t === 'trie') {
    trieQueue = trieQueue.then(() => shardTrie(m)).catch(crash);
    return;
  }
  if (m.t === 'receipts') {
    receiptsQueue = receiptsQueue.then(() => receiptsBatch(m)).catch(crash);
    return;
  }
  queue = queue.then(() => handle(m)).catch(crash);
});

/** Start a block: its header, its rules, its decoded transactions if they were kept, and its writes before them. */
async function startBlock(m: BlockStart): Promise<void> {
  seq = m.seq;
  faults = armedFaults;
  armedFaults = {};
  current = await vmFor(m.profile);
  block = createBlock({ header: m.header }, { common: current.common, setHardfork: true });
  current.vm.common.setHardforkBy({ blockNumber: block.header.number, timestamp: block.header.timestamp });
  current.txCommon.setHardforkBy({ blockNumber: block.header.number, timestamp: block.header.timestamp });
  const kept = m.ahead === undefined ? undefined : aheadDecoded.get(m.ahead);
  if (m.ahead !== undefined) aheadDecoded.delete(m.ahead);
  const reuse = kept !== undefined && kept.common === current.txCommon && kept.hardfork === current.txCommon.hardfork();
  decoded = reuse ? kept.txs : new Map();
  coinbase = m.coinbase;
  await useDatabase(m.db);
  accountFilter = m.accounts === undefined ? undefined : AccountFilter.view(m.accounts);
  state.reset(cache);
  blockPre = m.pre;
  await state.apply(m.pre, new Address(fromHex(coinbase)));
}

async function handle(m: ToWorker): Promise<void> {
  switch (m.t) {
    case 'block':
      return startBlock(m);
    case 'recover': {
      const t0 = performance.now();
      let yielded = 0;
      const { job } = m;
      const { index } = job.txs;
      const k = index.length;
      // The next block's transactions decode under its own rules; the current block's come back after the loop (no
      // other message of the queue runs meanwhile, and state-root shares do not decode transactions).
      const txCommon = current.txCommon;
      const rules = txCommon.hardfork();
      let kept: AheadTxs | undefined;
      if (m.ahead === true) {
        if (m.hardfork !== undefined && m.hardfork !== rules) txCommon.setHardfork(m.hardfork);
        kept = { common: txCommon, hardfork: txCommon.hardfork(), txs: new Map() };
        aheadDecoded.set(m.seq, kept);
        // Requests whose block was never run here (run serially, or replaced after a reorg): the oldest go.
        for (const old of aheadDecoded.keys()) if (aheadDecoded.size > AHEAD_BLOCKS) aheadDecoded.delete(old);
      }
      try {
        for (;;) {
          const from = Atomics.add(job.next, 0, RECOVER_CHUNK);
          if (from >= k) break;
          const to = Math.min(k, from + RECOVER_CHUNK);
          for (let j = from; j < to; j++) {
            const raw = packedTx(job.txs, j);
            // Before its `ok`, whatever that turns out to be (see `RecoverJob.by`).
            job.by[j] = init.index + 1;
            try {
              let tx: TypedTransaction;
              if (m.ahead === true) {
                tx = decodeTx(raw, current.txCommon);
                kept?.txs.set(index[j], tx);
              } else tx = decode(index[j], raw);
              const pk = recoverSenderKey(tx, raw);
              const address = keccak256(pk).subarray(12);
              // The transaction object runs here later (kept, or decoded for the current block), if this worker
              // runs it: its sender's address is known now, not hashed again when the run asks for it.
              pinSender(tx, pk, address);
              job.keys.set(pk, j * RECOVERED);
              job.keys.set(address, j * RECOVERED + 64);
              job.keys.set(keccak256(raw), j * RECOVERED + 84);
              Atomics.store(job.ok, j, 1);
            } catch {
              Atomics.store(job.ok, j, 2);
            }
          }
          // The chunk is written: whoever partitions the block as its senders come in may read it now.
          Atomics.add(job.done, 0, to - from);
          Atomics.notify(job.done, 0);
          if (faults.recoverChunkMs !== undefined) await sleep(faults.recoverChunkMs);
          // The next block's senders are not urgent: let a state-root share that arrives meanwhile go first.
          if (m.ahead === true) {
            const ty = performance.now();
            await new Promise(setImmediate);
            yielded += performance.now() - ty;
          }
        }
      } finally {
        if (txCommon.hardfork() !== rules) txCommon.setHardfork(rules);
      }
      post({ t: 'recovered', seq: m.seq, busyMs: performance.now() - t0 - yielded });
      return;
    }
    case 'run': {
      if (m.block !== undefined) await startBlock(m.block);
      for (const [a, rlp] of m.accounts) if (!cache.accounts.has(a)) cache.accounts.set(a, rlp);
      for (const [k, v] of m.slots) cache.setSlot(k, v, false);
      const { txs, keys, hasKey, groupOf, start, members, claims } = m.table;
      const me = m.worker + 1;
      const live = () => m.seq === seq && Atomics.load(abortFlag, 0) < m.seq;
      const run = (i: number) => runOne(i, packedTx(txs, i), hasKey[i] === 1 ? keys.subarray(i * 64, i * 64 + 64) : null);
      // Home first, in block order: a group is claimed at its first transaction; one claimed by another worker is
      // skipped.
      for (const i of m.home) {
        if (!live()) return void (outbox = []);
        const g = groupOf[i];
        if (members[start[g]] === i ? Atomics.compareExchange(claims, g, 0, me) !== 0 : Atomics.load(claims, g) !== me) continue;
        await run(i);
      }
      // Then groups nobody has started, from the block's end (where their home workers would get last), each on the
      // block's pre-state.
      for (let g = claims.length - 1; g >= 0; g--) {
        if (Atomics.load(claims, g) !== 0 || Atomics.compareExchange(claims, g, 0, me) !== 0) continue;
        flush();
        state.reset(cache);
        await state.apply(blockPre!, new Address(fromHex(coinbase)));
        for (let k = start[g]; k < start[g + 1]; k++) {
          if (!live()) return void (outbox = []);
          await run(members[k]);
        }
      }
      flush();
      return;
    }
    case 'write':
      return writeBatch(m);
    case 'commit': {
      for (const a of m.cleared) cache.dropSlotsOf(a);
      unpackCommit(
        m.state,
        (a, rlp) => cache.accounts.set(a, rlp),
        (a, s, v) => cache.setSlotOf(a, s, v, true),
      );
      for (const [h, c] of m.codes) cache.codes.set(h, c);
      // Between blocks a cleared cache is always correct: misses are read from the main thread's committed state.
      if (cache.size() > CACHE_LIMIT) cache.clear();
      return;
    }
    case 'clear':
      cache.clear();
      if (m.code === true) forgetInternedCode();
      return;
  }
}

/**
 * The thread's CPU priority below the main thread's (see `ParallelOptions.workerNice`), before any work: Linux's nice
 * values are per thread, and raising one needs no privilege.
 */
function lowerPriority(nice: number): number | undefined {
  if (nice === 0) return 0;
  const tid = currentThreadId();
  if (tid === undefined) return undefined;
  try {
    setPriority(tid, nice);
    return nice;
  } catch {
    return undefined;
  }
}

post({ t: 'ready', nice: lowerPriority(init.nice) });
