/**
 * The block executor: header environment and transactions in; receipts, logs bloom, receipts root, gas used, the
 * state diff and the state root out. Transaction semantics are @ethereumjs/vm `runTx` (intrinsic gas, fees, refunds,
 * access lists, typed transactions per fork); the block-level operations around them (beacon root, history
 * contract, withdrawals, proof-of-work rewards) are applied here, the way @ethereumjs `runBlock` orders them.
 *
 * State is read through an `OverlayStateManager` over the `StateStore`; nothing touches the database until
 * `commit()`, which writes the whole block in one atomic batch.
 */
import { Account, Address, GWEI_TO_WEI, KECCAK256_NULL, KECCAK256_RLP, equalsBytes, bigIntToAddressBytes, bigIntToBytes, setLengthLeft } from '@ethereumjs/util';
import { ConsensusType, type Common } from '@ethereumjs/common';
import { Bloom, createVM, runTx, type RunTxResult, type TxReceipt, type VM } from '@ethereumjs/vm';
import { createBlock, type Block } from '@ethereumjs/block';
import { EVM, type EVMMockBlockchainInterface, type Log } from '@ethereumjs/evm';
import { ParallaxError, errorMessage } from '../errors.ts';
import type { RlpInput } from '../util/rlp.ts';
import { OverlayStateManager } from '../state/overlay.ts';
import { BatchTrie, EMPTY_ROOT } from '../state/mpt.ts';
import type { CommitPack } from '../state/commit-pack.ts';
import type { BlockRecord, PreparedCommit, StateStore } from '../state/store.ts';
import type { TrieUpdate } from '../state/trie.ts';
import type { StateDiff } from '../state/types.ts';
import { checkConservation, conservationError, type ConservationReport } from '../insight/conservation.ts';
import { applyDaoFork, isDaoForkBlock } from './dao.ts';
import './evm-patches.ts';
import { withoutBlooms } from './bloom.ts';
import { EMPTY_BLOOM } from '../util/bloom-bits.ts';
import { ReceiptsBuilder, ReceiptsPacker, addLogsBloom, encodeReceipt, receiptEncodings, receiptGasField, receiptKey, statusField, type ReceiptsResult } from './receipts-job.ts';
import { frontierEvmOptions, type FrontierRules } from '../chain/frontier.ts';
import { beginFrontierTx, installFrontierMeters } from '../chain/frontier-meters.ts';
import { pinSender } from './tx-common.ts';
import { loadBn254 } from '../crypto/index.ts';
import { runPlainTransfer } from './transfer.ts';

/**
 * The VM a chain runs on: @ethereumjs defaults with the BN254 precompiles on rustbn-wasm (see crypto/index.ts), or
 * Frontier's precompiles, opcodes and meters where given.
 */
export async function createChainVM(common: Common, stateManager: OverlayStateManager, blockchain: EVMMockBlockchainInterface, frontier?: FrontierRules): Promise<VM> {
  const evmOpts = frontier === undefined ? {} : frontierEvmOptions(frontier, common);
  stateManager.existentialDeposit = frontier === undefined ? undefined : BigInt(frontier.existentialDeposit);
  // The EVM is built here because `createEVM` (which `createVM` would call) replaces any `bn254` it is given.
  const evm = new EVM({ common, stateManager, blockchain, ...evmOpts, bn254: await loadBn254() });
  const vm = await createVM({ common, stateManager, blockchain, setHardfork: false, evm });
  if (frontier !== undefined) installFrontierMeters(vm, frontier);
  return vm;
}

const blockHashes = new WeakMap<Block, Uint8Array>();

/**
 * The hash a chain knows a block by, where it is not the hash of the @ethereumjs header (Frontier's header has no base
 * fee field and keeps milliseconds): recorded as the block's hash, so that its child's parent hash links to it.
 */
export function setBlockHash(block: Block, hash: Uint8Array): void {
  blockHashes.set(block, hash);
}

export function blockHashOf(block: Block): Uint8Array {
  return blockHashes.get(block) ?? block.hash();
}

/**
 * State the chain holds that Parallax's copy lacked or got wrong before a block (balances moved outside the EVM on a
 * Substrate chain, accounts never seen before): written first thing in the block, as part of its diff (so it commits
 * and unwinds with the block), and counted as minted (or burned) for the conservation check.
 */
export interface PreStateRepair {
  accounts: { address: Uint8Array; nonce: bigint; balance: bigint; code: Uint8Array }[];
  slots: { address: Uint8Array; slot: Uint8Array; value: bigint }[];
}

/** Hash of an earlier block by number, for BLOCKHASH. */
export type BlockHashLookup = (n: bigint) => Promise<Uint8Array | undefined>;

export interface TxResult {
  receipt: TxReceipt;
  /** Gas charged to the sender (after refunds): the receipt's gas used. */
  gasUsed: bigint;
  createdAddress?: Uint8Array;
  reverted: boolean;
}

export interface BlockResult {
  block: Block;
  txs: TxResult[];
  encodedReceipts: Uint8Array[];
  receiptsRoot: Uint8Array;
  logsBloom: Uint8Array;
  gasUsed: bigint;
  stateRoot: Uint8Array;
  diff: StateDiff;
  trie: TrieUpdate;
  /** `stateRootMs`: the state root's computation, during which the receipts root is hashed too (see `finish`). */
  timings: { executeMs: number; stateRootMs: number };
  /** The block's value conservation check (it passed, or the block would not have finished). */
  conservation?: ConservationReport;
}

/** What a transaction produced, independent of where it ran (plain data: crosses threads). */
export interface TxOutcome {
  type: number;
  status: 0 | 1;
  /** Pre-Byzantium receipts carry the state root after the transaction instead of a status. */
  stateRoot?: Uint8Array;
  /** Gas charged (after refunds): what the receipt counts. */
  gasUsed: bigint;
  /** Gas counted against the block's limit. */
  blockGasSpent: bigint;
  logs: Log[];
  /** The transaction's logs bloom; absent where it was not made (its block's receipts are made elsewhere: see `ReceiptsSink`). */
  bloom?: Uint8Array;
  createdAddress?: Uint8Array;
}

/**
 * Where a block's receipts are made instead of on this thread as each transaction is recorded (see receipts-job.ts):
 * `add` takes each outcome in block order, with its receipt's cumulative gas field; `finish` answers with the
 * receipts, or undefined when they could not be made there (the executor then makes them here).
 */
export interface ReceiptsSink {
  add(o: TxOutcome, gasField: Uint8Array): void;
  finish(): Promise<ReceiptsResult | undefined>;
}

/** `bloom`: false where the transaction ran without blooms (see `withoutBlooms`): the outcome then has none. */
export function outcomeOf(res: RunTxResult, type: number, bloom = true): TxOutcome {
  const r = res.receipt as TxReceipt & { status?: 0 | 1; stateRoot?: Uint8Array };
  return {
    type,
    status: r.status ?? 1,
    stateRoot: r.stateRoot,
    gasUsed: res.totalGasSpent,
    blockGasSpent: res.blockGasSpent,
    logs: res.execResult.logs ?? [],
    bloom: bloom ? res.bloom.bitvector : undefined,
    createdAddress: res.createdAddress?.bytes,
  };
}

/** A block in progress. */
export interface BlockRun {
  block: Block;
  t0: number;
  bloom: Bloom;
  /** Receipts trie of the block, built in memory and hashed once at the end. */
  receiptTrie: BatchTrie;
  txs: TxResult[];
  encodedReceipts: Uint8Array[];
  gasUsed: bigint;
  receiptGasUsed: bigint;
  /** Wei created by the block (rewards, withdrawals). */
  minted: bigint;
  /** Where the receipts are made, if not here (see `ReceiptsSink`). */
  receipts?: ReceiptsSink;
}

export interface ExecutorOptions {
  common: Common;
  store: StateStore;
  /** Extra BLOCKHASH source, consulted before the store's own block records (fixtures carry their own). */
  blockHashes?: BlockHashLookup;
  /** Check value conservation at the end of every block (default on): a violation is CONSERVATION_VIOLATED. */
  conservation?: boolean;
  /** Frontier rules (a Substrate chain's EVM): precompile set, removed opcodes, proof-size and storage meters. */
  frontier?: FrontierRules;
}

/** A transaction's logs bloom made from its logs (as runTx makes it, for outcomes that came without one). */
function logsBloom(logs: Log[]): Uint8Array {
  const bits = new Uint8Array(256);
  addLogsBloom(bits, logs);
  return bits;
}

const BEACON_ROOTS_ADDRESS = new Address(Uint8Array.from(Buffer.from('000F3df6D732807Ef1319fB7B8bB8522d0Beac02', 'hex')));

export class BlockExecutor {
  readonly common: Common;
  readonly store: StateStore;
  readonly state: OverlayStateManager;
  readonly vm: VM;
  private blockHashes: BlockHashLookup | undefined;
  private readonly conservation: boolean;
  /** Applied at the start of every block until cleared. */
  private preState: PreStateRepair | undefined;
  /** Frontier: transactions (by index) that pay no EVM fee and carry a pallet-wide nonce (EthereumChecked, Xvm). */
  private feeless: Set<number> | undefined;
  private feelessBlock: Block | undefined;
  /** Where a block's receipts are made instead of here, if anywhere (set by the parallel engine: its workers). */
  receiptsSink: ((block: Block) => ReceiptsSink | undefined) | undefined;

  private constructor(opts: ExecutorOptions, vm: VM, state: OverlayStateManager) {
    this.common = opts.common;
    this.conservation = opts.conservation ?? true;
    this.store = opts.store;
    this.vm = vm;
    this.state = state;
    this.blockHashes = opts.blockHashes;
  }

  static async create(opts: ExecutorOptions): Promise<BlockExecutor> {
    const state = new OverlayStateManager(opts.store);
    let self: BlockExecutor | undefined;
    const blockchain: EVMMockBlockchainInterface = {
      getBlock: async (n: number | bigint | Uint8Array) => {
        if (typeof n === 'object') throw new Error('BLOCKHASH lookup by hash is not supported');
        const hash = await self!.blockHash(BigInt(n));
        return { hash: () => hash ?? new Uint8Array(32) };
      },
      putBlock: async () => {},
      shallowCopy(): EVMMockBlockchainInterface {
        return this;
      },
    };
    const vm = await createChainVM(opts.common, state, blockchain, opts.frontier);
    self = new BlockExecutor(opts, vm, state);
    markPostExecution(vm, state);
    // Pre-Byzantium receipts carry the state root after each transaction.
    state.stateRootProvider = async (diff) => (await opts.store.computeTrie(diff)).stateRoot;
    return self;
  }

  /** Repairs to apply at the start of every block `begin`s until cleared with undefined. */
  setPreState(repair: PreStateRepair | undefined): void {
    this.preState = repair;
  }

  /**
   * Frontier: the transactions of the next blocks (until cleared) that run without an EVM fee and without the sender
   * nonce check (the sender's nonce still increments), as EthereumChecked and Xvm calls do. On this thread only.
   */
  setFeeless(indices: Set<number> | undefined): void {
    this.feeless = indices === undefined || indices.size === 0 ? undefined : indices;
    this.feelessBlock = undefined;
  }

  private feelessView(block: Block): Block {
    if (this.feelessBlock === undefined || this.feelessBlock.header.number !== block.header.number) {
      // The same header with a zero base fee: what these calls are charged in the EVM (their extrinsic pays).
      const { header } = block;
      this.feelessBlock = createBlock({ header: { ...header.toJSON(), baseFeePerGas: 0n } }, { common: header.common, setHardfork: false, skipConsensusFormatValidation: true });
    }
    return this.feelessBlock;
  }

  setBlockHashes(lookup: BlockHashLookup | undefined): void {
    this.blockHashes = lookup;
  }

  async blockHash(n: bigint): Promise<Uint8Array | undefined> {
    const fromSource = await this.blockHashes?.(n);
    if (fromSource !== undefined) return fromSource;
    return (await this.store.blockRecord(n))?.hash;
  }

  /** Execute `block` serially on the store's head state. Throws BLOCK_INVALID if a transaction cannot be included. */
  async execute(block: Block): Promise<BlockResult> {
    const run = await this.begin(block);
    for (let i = 0; i < block.transactions.length; i++) await this.runSerial(run, i);
    return this.finish(run);
  }

  /** Start a block: select its fork, reset the overlay to the head state, apply the pre-transaction system ops. */
  async begin(block: Block): Promise<BlockRun> {
    const t0 = performance.now();
    const { header } = block;
    const vm = this.vm;
    vm.common.setHardforkBy({ blockNumber: header.number, timestamp: header.timestamp });
    this.state.reset(this.store);
    const run: BlockRun = {
      block,
      t0,
      bloom: new Bloom(undefined, vm.common),
      receiptTrie: new BatchTrie(EMPTY_ROOT, () => undefined),
      txs: [],
      encodedReceipts: [],
      gasUsed: 0n,
      receiptGasUsed: 0n,
      minted: 0n,
      receipts: this.receiptsSink?.(block),
    };
    if (header.gasLimit >= 0x8000000000000000n) this.fail(run, 'gas limit above 2^63-1');
    if (this.preState !== undefined) await this.applyPreState(run, this.preState);
    if (isDaoForkBlock(vm.common, header.number)) await applyDaoFork(vm.evm.journal, this.state);
    if (vm.common.isActivatedEIP(4788)) await this.applyBeaconRoot(header.parentBeaconBlockRoot, header.timestamp);
    if (vm.common.isActivatedEIP(2935)) await this.applyHistoryHash(header.number, header.parentHash);
    if (vm.common.isActivatedEIP(7685)) this.fail(run, 'execution-layer requests (Prague and later) are not supported yet');
    return run;
  }

  /** Abandon the block: the overlay is dropped and a typed error names the block. */
  fail(run: BlockRun, msg: string, details: Record<string, unknown> = {}, cause?: unknown): never {
    this.state.reset(this.store);
    const n = run.block.header.number;
    throw new ParallaxError('BLOCK_INVALID', `block ${n}: ${msg}`, { block: n, ...details }, { cause });
  }

  /** The next transaction must fit in the gas the block has left. */
  checkGas(run: BlockRun, i: number): void {
    const tx = run.block.transactions[i];
    if (run.block.header.gasLimit < tx.gasLimit + run.gasUsed) {
      this.fail(run, `transaction ${i} gas limit exceeds the gas left in the block`, { tx: i });
    }
  }

  /** Run transaction `i` (the next one in block order) here, on the overlay. */
  async runSerial(run: BlockRun, i: number): Promise<void> {
    this.checkGas(run, i);
    const tx = run.block.transactions[i];
    let outcome: TxOutcome;
    try {
      pinSender(tx);
      beginFrontierTx(this.vm, tx);
      if (this.feeless?.has(i) === true) {
        // The transaction's nonce is the pallet's own counter, not the sender's (which still increments).
        const res = await runTx(this.vm, { tx, block: this.feelessView(run.block), blockGasUsed: run.receiptGasUsed, skipNonce: true });
        outcome = outcomeOf(res, tx.type);
      } else {
        const plain = await runPlainTransfer(this.vm, this.state, tx, run.block);
        if (plain !== undefined) outcome = plain;
        else if (run.receipts === undefined) outcome = outcomeOf(await runTx(this.vm, { tx, block: run.block, blockGasUsed: run.receiptGasUsed }), tx.type);
        // The receipts are made elsewhere, and the bloom with them: runTx's is left empty.
        else outcome = outcomeOf(await withoutBlooms(() => runTx(this.vm, { tx, block: run.block, blockGasUsed: run.receiptGasUsed })), tx.type, false);
      }
    } catch (e) {
      // Our own database failing is not the transaction's fault: say so, never call the block invalid.
      if (e instanceof ParallaxError && (e.code === 'DB_CORRUPT' || e.code === 'STATE_MISSING')) {
        this.state.reset(this.store);
        throw e;
      }
      return this.fail(run, `transaction ${i} is invalid: ${errorMessage(e)}`, { tx: i }, e);
    }
    await this.record(run, i, outcome);
  }

  /** Add transaction `i`'s outcome (from here or from a validated speculative run) to the block's receipts. */
  async record(run: BlockRun, i: number, o: TxOutcome): Promise<void> {
    run.gasUsed += o.blockGasSpent;
    run.receiptGasUsed += o.gasUsed;
    const gasField = receiptGasField(run.receiptGasUsed);
    const receipt = {
      ...(o.stateRoot !== undefined ? { stateRoot: o.stateRoot } : { status: o.status }),
      cumulativeBlockGasUsed: run.receiptGasUsed,
      bitvector: o.bloom ?? EMPTY_BLOOM, // until the block's receipts are made (see `takeReceipts`)
      logs: o.logs,
    } as TxReceipt;
    run.txs.push({ receipt, gasUsed: o.gasUsed, createdAddress: o.createdAddress, reverted: o.status === 0 });
    if (run.receipts !== undefined) {
      // The bloom and the encoding are made with the others (see `finish`).
      run.receipts.add(o, gasField);
      return;
    }
    const bloom = o.bloom ?? logsBloom(o.logs);
    receipt.bitvector = bloom;
    // A transaction's bloom is made of its logs: without logs there is nothing to add.
    if (o.logs.length > 0) {
      const into = run.bloom.bitvector;
      for (let b = 0; b < 256; b++) into[b] |= bloom[b];
    }
    const encoded = encodeReceipt(o.type, statusField(o), gasField, bloom, o.logs as RlpInput[]);
    run.encodedReceipts.push(encoded);
    run.receiptTrie.put(receiptKey(i), encoded);
  }

  /** Withdrawals and rewards after the transactions, then the diff and the state root. */
  async finish(run: BlockRun): Promise<BlockResult> {
    const { block } = run;
    const vm = this.vm;
    if (vm.common.isActivatedEIP(4895)) {
      for (const w of block.withdrawals ?? []) await this.credit(run, w.address, w.amount * GWEI_TO_WEI);
      await vm.evm.journal.cleanup();
    }
    if (block.common.consensusType() === ConsensusType.ProofOfWork) await this.payRewards(run);

    const diff = this.state.diff();
    let conservation: ConservationReport | undefined;
    if (this.conservation) {
      conservation = await checkConservation(diff, (a) => this.state.preBalance(a), this.conservationTerms(run));
      if (!conservation.ok) {
        this.state.reset(this.store);
        throw conservationError(block.header.number, conservation);
      }
    }
    const t1 = performance.now();
    // The state root's shares go to the workers first (see StateTrie.update); the receipts root is hashed here while
    // they work, instead of after (so `stateRootMs` includes it). Lab, 4 transfers blocks, alternating: 10,433 /
    // 11,362 / 10,500 / 10,526 / 11,038 / 12,043 tx/s against 10,163 / 10,069 / 9,902 / 10,160 / 10,428 / 10,444.
    // Receipts made elsewhere get their last batch first, so that it is under way while the state root is.
    const offloaded = run.receipts?.finish();
    const computing = this.store.computeTrie(diff);
    let receiptsRoot: Uint8Array;
    try {
      if (offloaded !== undefined) receiptsRoot = this.takeReceipts(run, await offloaded);
      else receiptsRoot = block.transactions.length === 0 ? KECCAK256_RLP : run.receiptTrie.commit();
    } catch (e) {
      computing.catch(() => {});
      throw e;
    }
    const trie = await computing;
    const t2 = performance.now();
    return {
      block,
      txs: run.txs,
      encodedReceipts: run.encodedReceipts,
      receiptsRoot,
      logsBloom: run.bloom.bitvector,
      gasUsed: run.gasUsed,
      stateRoot: trie.stateRoot,
      diff,
      trie,
      timings: { executeMs: t1 - run.t0, stateRootMs: t2 - t1 },
      conservation,
    };
  }

  /**
   * The block's receipts as made elsewhere (`ReceiptsSink`), or made here from the recorded outcomes when they could
   * not be: each receipt's bloom, the block's bloom and the encodings in place; returns the receipts root.
   */
  private takeReceipts(run: BlockRun, made: ReceiptsResult | undefined): Uint8Array {
    let r = made;
    if (r === undefined || r.count !== run.txs.length) {
      const packer = new ReceiptsPacker();
      run.txs.forEach((t, i) => {
        const rc = t.receipt as TxReceipt & { status?: 0 | 1; stateRoot?: Uint8Array };
        packer.add({ type: run.block.transactions[i]!.type, status: rc.status ?? 1, stateRoot: rc.stateRoot, logs: rc.logs }, receiptGasField(rc.cumulativeBlockGasUsed));
      });
      const builder = new ReceiptsBuilder();
      builder.add(packer.take());
      r = builder.finish();
    }
    run.encodedReceipts = receiptEncodings(r);
    for (let i = 0; i < r.count; i++) run.txs[i]!.receipt.bitvector = r.blooms.subarray(256 * i, 256 * (i + 1));
    run.bloom.bitvector.set(r.bloom);
    return r.root;
  }

  /** What the protocol minted and burned in this block, for the conservation check. */
  private conservationTerms(run: BlockRun): Parameters<typeof checkConservation>[2] {
    const { block } = run;
    const common = this.vm.common;
    const h = block.header;
    // Feeless (Frontier EthereumChecked/Xvm) transactions burn nothing in the EVM.
    let feelessGas = 0n;
    for (const i of this.feeless ?? []) feelessGas += run.txs[i]?.gasUsed ?? 0n;
    const baseFeeBurned = common.isActivatedEIP(1559) && h.baseFeePerGas !== undefined ? h.baseFeePerGas * (run.receiptGasUsed - feelessGas) : 0n;
    let blobFeeBurned = 0n;
    if (common.isActivatedEIP(4844)) {
      let blobs = 0n;
      for (const tx of block.transactions) {
        const hashes = (tx as { blobVersionedHashes?: unknown[] }).blobVersionedHashes;
        if (hashes !== undefined) blobs += BigInt(hashes.length);
      }
      if (blobs > 0n) blobFeeBurned = blobs * common.param('blobGasPerBlob') * h.getBlobGasPrice();
    }
    return { minted: run.minted, baseFeeBurned, blobFeeBurned, destroyed: this.state.destroyed };
  }

  /**
   * Persist an executed block: state, trie nodes, receipts, block record and head in one atomic batch (see
   * `StateStore.commit`). Returns the block's record and its flat records packed as the workers' caches take them.
   */
  async commit(result: BlockResult, verification?: PreparedCommit['verification'], trace?: string): Promise<{ record: BlockRecord; state: CommitPack }> {
    const h = result.block.header;
    const record: BlockRecord = {
      number: h.number,
      hash: blockHashOf(result.block),
      parentHash: h.parentHash,
      stateRoot: result.stateRoot,
      receiptsRoot: result.receiptsRoot,
      logsBloom: result.logsBloom,
      gasUsed: result.gasUsed,
      txCount: result.block.transactions.length,
      timestamp: h.timestamp,
    };
    const state = await this.store.commit({ record, diff: result.diff, trie: result.trie, receipts: result.encodedReceipts, verification, trace });
    return { record, state };
  }

  private async applyBeaconRoot(root: Uint8Array | undefined, timestamp: bigint): Promise<void> {
    if (root === undefined) throw new ParallaxError('BLOCK_INVALID', 'header has no parentBeaconBlockRoot although EIP-4788 is active');
    const code = await this.state.getCode(BEACON_ROOTS_ADDRESS);
    if (code.length === 0) return;
    const length = BigInt(this.vm.common.param('historicalRootsLength'));
    const index = timestamp % length;
    await this.state.putStorage(BEACON_ROOTS_ADDRESS, setLengthLeft(bigIntToBytes(index), 32), bigIntToBytes(timestamp));
    await this.state.putStorage(BEACON_ROOTS_ADDRESS, setLengthLeft(bigIntToBytes(index + length), 32), root);
    await this.vm.evm.journal.cleanup();
  }

  private async applyHistoryHash(number: bigint, parentHash: Uint8Array): Promise<void> {
    const address = new Address(bigIntToAddressBytes(this.vm.common.param('historyStorageAddress')));
    const code = await this.state.getCode(address);
    if (code.length === 0) return;
    const window = this.vm.common.param('historyServeWindow');
    await this.state.putStorage(address, setLengthLeft(bigIntToBytes((number - 1n) % window), 32), parentHash);
    await this.vm.evm.journal.cleanup();
  }

  private async applyPreState(run: BlockRun, repair: PreStateRepair): Promise<void> {
    // The chain's values as they are: what the EVM sees already (no existential-deposit adjustment).
    const ed = this.state.existentialDeposit;
    this.state.existentialDeposit = undefined;
    try {
      await this.writePreState(run, repair);
    } finally {
      this.state.existentialDeposit = ed;
    }
  }

  private async writePreState(run: BlockRun, repair: PreStateRepair): Promise<void> {
    for (const a of repair.accounts) {
      const address = new Address(a.address);
      const before = (await this.state.getAccount(address)) ?? new Account();
      run.minted += a.balance - before.balance;
      await this.vm.evm.journal.putAccount(address, new Account(a.nonce, a.balance, before.storageRoot, before.codeHash));
      if (a.code.length > 0 || !equalsBytes(before.codeHash, KECCAK256_NULL)) await this.state.putCode(address, a.code);
    }
    for (const s of repair.slots) await this.state.putStorage(new Address(s.address), s.slot, s.value === 0n ? new Uint8Array() : bigIntToBytes(s.value));
    await this.vm.evm.journal.cleanup();
  }

  private async credit(run: BlockRun, address: Address, amount: bigint): Promise<void> {
    run.minted += amount;
    const acc = (await this.state.getAccount(address)) ?? new Account();
    acc.balance += amount;
    await this.vm.evm.journal.putAccount(address, acc);
  }

  private async payRewards(run: BlockRun): Promise<void> {
    const { block } = run;
    const minerReward = this.vm.common.param('minerReward');
    for (const ommer of block.uncleHeaders) {
      let reward = ((8n - (block.header.number - ommer.number)) * minerReward) / 8n;
      if (reward < 0n) reward = 0n;
      await this.credit(run, ommer.coinbase, reward);
    }
    const reward = minerReward + (minerReward / 32n) * BigInt(block.uncleHeaders.length);
    await this.credit(run, block.header.coinbase, reward);
  }
}

/**
 * The top-level EVM call returning marks the start of runTx's refund and fee payment: from there on, a tracked
 * transaction's fee credit to the coinbase is a delta, not a read (the worker threads and the main thread alike).
 */
export function markPostExecution(vm: VM, state: OverlayStateManager): void {
  const evm = vm.evm as unknown as { runCall(opts: { message?: unknown }): Promise<unknown> };
  const runCall = evm.runCall.bind(evm);
  evm.runCall = async (opts) => {
    const top = opts.message === undefined;
    try {
      return await runCall(opts);
    } finally {
      if (top) state.markPostExecution();
    }
  };
}
