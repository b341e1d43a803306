/**
 * Runner for the official ethereum/tests BlockchainTests.
 *
 * Each test gets a fresh in-memory state store loaded with `pre`, an @ethereumjs/blockchain for header, uncle and
 * body validation and for fork choice (total difficulty before the merge), and Parallax's executor (or parallel
 * engine) for execution. Every block is executed when it arrives, on its parent's state: when the parent is not the
 * store's head, the store unwinds to the common ancestor through its undo journal and re-executes the branch. A valid
 * block must reproduce its header's state root, receipts root, bloom and gas used; a block marked `expectException`
 * must be rejected. At the end the store moves to the canonical head, whose hash and post-state must match.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createBlockFromRLP, ethashCanonicalDifficulty, type Block } from '@ethereumjs/block';
import { createBlockchain, type Blockchain } from '@ethereumjs/blockchain';
import { ConsensusType, type Common } from '@ethereumjs/common';
import { RLP } from '@ethereumjs/rlp';
import { createCommon, type ChainProfile } from '../chain/profile.ts';
import { loadKzg, nativeCrypto } from '../crypto/index.ts';
import { errorMessage } from '../errors.ts';
import { BlockExecutor } from '../exec/executor.ts';
import { ParallelExecutor } from '../exec/parallel.ts';
import { createDatabase } from '../state/db.ts';
import { commitGenesis, type Alloc } from '../state/genesis.ts';
import { StateStore } from '../state/store.ts';
import { bytesEqual, fromHex, hex, prefixed } from '../util/bytes.ts';
import { networkProfile } from './networks.ts';

export type SpecStatus = 'passed' | 'failed' | 'skipped';

export interface SpecResult {
  file: string;
  name: string;
  network: string;
  status: SpecStatus;
  /** Failures: the block and what differed. Skips: why. */
  reason?: string;
}

export interface SpecSummary {
  passed: number;
  failed: number;
  skipped: number;
  results: SpecResult[];
}

export interface SpecOptions {
  /** Worker threads for blocks with several transactions; 1 (the default) is the serial path on the main thread. */
  workers?: number;
  /** Only tests whose name contains this. */
  filter?: string;
  onResult?: (r: SpecResult) => void;
}

interface TestBlock {
  rlp: string;
  blockHeader?: Record<string, string>;
  expectException?: string;
}

interface BlockchainTest {
  network: string;
  pre: Alloc;
  genesisRLP: string;
  genesisBlockHeader: { hash: string; stateRoot: string };
  blocks: TestBlock[];
  postState?: Alloc;
  postStateHash?: string;
  lastblockhash: string;
}

/** All .json files under the given files or folders, sorted. */
export async function collectFiles(paths: string[]): Promise<string[]> {
  const out: string[] = [];
  const walk = async (p: string): Promise<void> => {
    const s = await stat(p);
    if (s.isDirectory()) {
      for (const e of (await readdir(p)).sort()) await walk(join(p, e));
    } else if (p.endsWith('.json')) out.push(p);
  };
  for (const p of paths) await walk(p);
  return out;
}

/** Engines shared across tests: one worker pool for the whole run. */
class Engines {
  private engine: ParallelExecutor | undefined;
  private readonly workers: number;
  constructor(workers: number) {
    this.workers = workers;
  }
  async for(executor: BlockExecutor, profile: ChainProfile): Promise<ParallelExecutor> {
    if (this.engine === undefined) {
      // Every block of two or more transactions speculates, however cheap, and every block's receipts are made on a
      // worker: with workers the suite checks the parallel path.
      this.engine = await ParallelExecutor.create(executor, { workers: this.workers, minParallelTxs: 2, minSpeculativeGas: 0, minOffloadedReceipts: 1, txTimeoutMs: 60_000, profile, kzg: true });
    } else {
      this.engine.attach(executor, profile);
    }
    return this.engine;
  }
  async close(): Promise<void> {
    await this.engine?.close();
  }
}

export async function runSpecPaths(paths: string[], opts: SpecOptions): Promise<SpecSummary> {
  const files = await collectFiles(paths);
  const summary: SpecSummary = { passed: 0, failed: 0, skipped: 0, results: [] };
  const engines = new Engines(opts.workers ?? 1);
  try {
    for (const file of files) {
      let tests: Record<string, BlockchainTest>;
      try {
        tests = JSON.parse(await readFile(file, 'utf8'));
      } catch (e) {
        const r: SpecResult = { file, name: '(file)', network: '', status: 'failed', reason: `cannot read: ${errorMessage(e)}` };
        summary.failed++;
        summary.results.push(r);
        opts.onResult?.(r);
        continue;
      }
      for (const [name, t] of Object.entries(tests)) {
        if (opts.filter !== undefined && !name.includes(opts.filter)) continue;
        let r: SpecResult;
        try {
          r = await runTest(file, name, t, engines);
        } catch (e) {
          r = { file, name, network: t.network, status: 'failed', reason: `runner error: ${errorMessage(e)}` };
        }
        summary[r.status]++;
        summary.results.push(r);
        opts.onResult?.(r);
      }
    }
  } finally {
    await engines.close();
  }
  return summary;
}

/**
 * For the total-difficulty transition network: the lowest number of a valid block with difficulty 0, which is where
 * the chain's terminal total difficulty made Paris active (blocks expected to fail do not count).
 */
function firstPosBlock(t: BlockchainTest): number | undefined {
  let first: number | undefined;
  for (const b of t.blocks) {
    if (b.expectException !== undefined || b.blockHeader === undefined) continue;
    try {
      const header = (RLP.decode(fromHex(b.rlp)) as Uint8Array[][])[0];
      if (header[7].length === 0) {
        const n = header[8].length === 0 ? 0 : Number(BigInt(prefixed(header[8])));
        if (first === undefined || n < first) first = n;
      }
    } catch {
      // undecodable blocks are judged later
    }
  }
  return first;
}

async function runTest(file: string, name: string, t: BlockchainTest, engines: Engines): Promise<SpecResult> {
  const base = { file, name, network: t.network };
  const profile = networkProfile(t.network, t.network.includes('AtDiff') ? firstPosBlock(t) : undefined);
  if (profile === undefined) return { ...base, status: 'skipped', reason: `network ${t.network} is not supported` };
  const common: Common = createCommon(profile, nativeCrypto(await loadKzg()));
  const genesis = createBlockFromRLP(fromHex(t.genesisRLP), { common, setHardfork: true });
  const store = await StateStore.open(createDatabase(':memory:'), common, { undoDepth: t.blocks.length + 2 });
  try {
    const rec = await commitGenesis(store, t.pre, { number: 0n, hash: genesis.hash(), parentHash: genesis.header.parentHash, timestamp: genesis.header.timestamp }, `${name} pre`);
    if (!bytesEqual(rec.stateRoot, genesis.header.stateRoot)) {
      return { ...base, status: 'failed', reason: `genesis state root ${prefixed(rec.stateRoot)} != ${prefixed(genesis.header.stateRoot)}` };
    }
    // The blockchain picks its consensus rules from the common's fork: start at genesis and follow the head.
    common.setHardforkBy({ blockNumber: 0n, timestamp: genesis.header.timestamp });
    const blockchain: Blockchain = await createBlockchain({
      common,
      validateBlocks: false,
      validateConsensus: false,
      hardforkByHeadBlockNumber: true,
      genesisBlock: genesis,
    });
    const executor = await BlockExecutor.create({ common, store });
    const engine = await engines.for(executor, profile);
    const chain = new ChainState(store, engine, genesis);

    for (let i = 0; i < t.blocks.length; i++) {
      const tb = t.blocks[i];
      const expectInvalid = tb.expectException !== undefined || tb.blockHeader === undefined;
      const verdict = await importBlock(tb, common, blockchain, chain);
      if (verdict.ok && expectInvalid) {
        return { ...base, status: 'failed', reason: `block ${i + 1} was accepted but expects ${tb.expectException ?? 'rejection'}` };
      }
      if (!verdict.ok && !expectInvalid) return { ...base, status: 'failed', reason: `block ${i + 1} rejected: ${verdict.why}` };
    }
    const head = await blockchain.getCanonicalHeadBlock();
    if (hex(head.hash()) !== t.lastblockhash.replace(/^0x/, '').toLowerCase()) {
      return { ...base, status: 'failed', reason: `last block hash ${prefixed(head.hash())} != ${t.lastblockhash}` };
    }
    await chain.moveTo(head);
    if (t.postStateHash !== undefined) {
      if (hex(store.stateRoot()) !== t.postStateHash.replace(/^0x/, '').toLowerCase()) {
        return { ...base, status: 'failed', reason: `post state root ${prefixed(store.stateRoot())} != ${t.postStateHash}` };
      }
    } else if (t.postState !== undefined) {
      const diff = await comparePostState(store, t.postState);
      if (diff !== undefined) return { ...base, status: 'failed', reason: `post state: ${diff}` };
    }
    return { ...base, status: 'passed' };
  } finally {
    await store.close();
  }
}

/** The store's chain of executed blocks, and moving it between branches. */
class ChainState {
  private readonly store: StateStore;
  private readonly engine: ParallelExecutor;
  private readonly blocks = new Map<string, Block>();
  /** Hashes of the blocks the store holds, by number (index 0 = genesis). */
  private path: string[];

  constructor(store: StateStore, engine: ParallelExecutor, genesis: Block) {
    this.store = store;
    this.engine = engine;
    this.path = [hex(genesis.hash())];
    this.blocks.set(this.path[0], genesis);
  }

  has(hash: string): boolean {
    return this.blocks.has(hash);
  }

  /** Put the store at `target` (a known block): unwind to the common ancestor, re-execute the branch. */
  async moveTo(target: Block): Promise<void> {
    const branch: Block[] = [];
    let cur = target;
    while (this.path[Number(cur.header.number)] !== hex(cur.hash())) {
      branch.push(cur);
      const parent = this.blocks.get(hex(cur.header.parentHash));
      if (parent === undefined) throw new Error(`unknown ancestor ${prefixed(cur.header.parentHash)}`);
      cur = parent;
    }
    const ancestor = Number(cur.header.number);
    const depth = this.path.length - 1 - ancestor;
    if (depth > 0) {
      await this.store.unwind(depth);
      this.engine.invalidateCaches();
      this.path.length = ancestor + 1;
    }
    for (const b of branch.reverse()) {
      const { result } = await this.engine.execute(b);
      await this.engine.commit(result);
      this.path.push(hex(b.hash()));
    }
  }

  /** Execute `block` on its parent's state; commit it if every header field it must reproduce matches. */
  async execute(block: Block): Promise<string | undefined> {
    const parent = this.blocks.get(hex(block.header.parentHash));
    if (parent === undefined) return 'unknown parent';
    if (block.header.number !== parent.header.number + 1n) return `number ${block.header.number} does not follow parent ${parent.header.number}`;
    await this.moveTo(parent);
    let result;
    try {
      result = (await this.engine.execute(block)).result;
    } catch (e) {
      return errorMessage(e);
    }
    const h = block.header;
    const diffs: string[] = [];
    if (!bytesEqual(result.stateRoot, h.stateRoot)) diffs.push(`stateRoot ${prefixed(result.stateRoot)} != ${prefixed(h.stateRoot)}`);
    if (!bytesEqual(result.receiptsRoot, h.receiptTrie)) diffs.push(`receiptTrie ${prefixed(result.receiptsRoot)} != ${prefixed(h.receiptTrie)}`);
    if (!bytesEqual(result.logsBloom, h.logsBloom)) diffs.push('bloom differs');
    if (result.gasUsed !== h.gasUsed) diffs.push(`gasUsed ${result.gasUsed} != ${h.gasUsed}`);
    if (diffs.length > 0) return diffs.join('; ');
    await this.engine.commit(result);
    this.path.push(hex(block.hash()));
    this.blocks.set(hex(block.hash()), block);
    return undefined;
  }
}

async function importBlock(tb: TestBlock, common: Common, blockchain: Blockchain, chain: ChainState): Promise<{ ok: true } | { ok: false; why: string }> {
  let block: Block;
  try {
    block = createBlockFromRLP(fromHex(tb.rlp), { common, setHardfork: true });
  } catch (e) {
    return { ok: false, why: `does not decode: ${errorMessage(e)}` };
  }
  if (chain.has(hex(block.hash()))) return { ok: true };
  try {
    await blockchain.validateBlock(block);
    // @ethereumjs/blockchain checks proof-of-work difficulty only through an ethash consensus module; the rule
    // itself (difficulty from the parent, bombs per fork) is in @ethereumjs/block.
    if (block.common.consensusType() === ConsensusType.ProofOfWork) {
      const parent = await blockchain.getBlock(block.header.parentHash);
      const expected = ethashCanonicalDifficulty(block, parent);
      if (block.header.difficulty !== expected) return { ok: false, why: `difficulty ${block.header.difficulty} != ${expected}` };
    }
  } catch (e) {
    return { ok: false, why: `invalid: ${errorMessage(e)}` };
  }
  const why = await chain.execute(block);
  if (why !== undefined) return { ok: false, why };
  await blockchain.putBlock(block);
  return { ok: true };
}

function quantity(v: string | undefined): bigint {
  return v === undefined || v === '0x' || v === '' ? 0n : BigInt(v);
}

/** First difference between the store's state and the expected post-state, if any. */
async function comparePostState(store: StateStore, post: Alloc): Promise<string | undefined> {
  const expected = new Map(Object.entries(post).map(([a, v]) => [a.toLowerCase().replace(/^0x/, ''), v]));
  const seen = new Set<string>();
  for await (const { address, account } of store.accounts()) {
    const a = hex(address);
    seen.add(a);
    const e = expected.get(a);
    if (e === undefined) return `unexpected account 0x${a}`;
    if (account.balance !== quantity(e.balance)) return `0x${a} balance ${account.balance} != ${quantity(e.balance)}`;
    if (account.nonce !== quantity(e.nonce)) return `0x${a} nonce ${account.nonce} != ${quantity(e.nonce)}`;
    const code = hex(await store.getCode(account.codeHash));
    if (code !== (e.code ?? '0x').replace(/^0x/, '').toLowerCase()) return `0x${a} code differs`;
    const want = new Map<string, bigint>();
    for (const [k, v] of Object.entries(e.storage ?? {})) if (quantity(v) !== 0n) want.set(quantity(k).toString(16), quantity(v));
    let count = 0;
    for await (const { slot, value } of store.storageOf(address)) {
      count++;
      const k = quantity(prefixed(slot)).toString(16);
      const w = want.get(k);
      const got = quantity(prefixed(value));
      if (w !== got) return `0x${a} slot 0x${k} = ${got}, expected ${w ?? 0n}`;
    }
    if (count !== want.size) return `0x${a} has ${count} storage slots, expected ${want.size}`;
  }
  for (const a of expected.keys()) if (!seen.has(a)) return `missing account 0x${a}`;
  return undefined;
}
