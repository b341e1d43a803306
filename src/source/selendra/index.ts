/**
 * Ingest from a Selendra node with @polkadot/api over WebSocket (reconnecting). For each block: its EVM transactions
 * and what the chain recorded for them, read with the block's own runtime metadata (`api.at(hash)`), so a runtime
 * upgrade inside a range just works:
 *   - `Ethereum::CurrentBlock` (the Ethereum block Frontier built: header and transactions), `CurrentReceipts`,
 *     `CurrentTransactionStatuses` at the block;
 *   - the block's `ethereum.transact` extrinsics, decoded into @ethereumjs transactions and matched with the Ethereum
 *     block's transactions (an extrinsic whose EVM run failed before execution has none; `EthereumChecked` and `Xvm`
 *     entries have no extrinsic of their own and carry a dummy signature: their sender is the status's `from`);
 *   - `DynamicEvmBaseFee::BaseFeePerGas` at the parent block (the base fee the block's transactions paid).
 * Everything is cross-checked before it is handed on: the Ethereum header hashes to `Ethereum::BlockHash(n)`, the
 * receipts hash to the header's receipts root, every transaction hash and sender agrees with its status. An answer
 * that does not check out is a typed error (SOURCE_FAILED, kind bad_answer) naming the block and what differed.
 */
import { createBlock, type Block } from '@ethereumjs/block';
import type { Common } from '@ethereumjs/common';
import type { TypedTransaction } from '@ethereumjs/tx';
import { RLP } from '@ethereumjs/rlp';
import { Address, bigIntToUnpaddedBytes } from '@ethereumjs/util';
import { encodeReceipt, type TxReceipt } from '@ethereumjs/vm';
import { ApiPromise, WsProvider } from '@polkadot/api';
import { ParallaxError, errorMessage } from '../../errors.ts';
import { BatchTrie, EMPTY_ROOT } from '../../state/mpt.ts';
import { bytesEqual, hex } from '../../util/bytes.ts';
import { keccak256 } from '../../crypto/index.ts';
import { bigOf, type Codec, type Enum, type Opt, type Struct, type Vec } from './codec.ts';
import { decodeEvmExtrinsic, evmTransaction } from './extrinsic.ts';
import { setBlockHash } from '../../exec/executor.ts';

/** The Ethereum header Frontier stores (pre-London layout, 15 fields; the timestamp in milliseconds). */
export interface FrontierHeader {
  parentHash: Uint8Array;
  ommersHash: Uint8Array;
  beneficiary: Uint8Array;
  stateRoot: Uint8Array;
  transactionsRoot: Uint8Array;
  receiptsRoot: Uint8Array;
  logsBloom: Uint8Array;
  difficulty: bigint;
  number: bigint;
  gasLimit: bigint;
  gasUsed: bigint;
  timestampMs: bigint;
  extraData: Uint8Array;
  mixHash: Uint8Array;
  nonce: Uint8Array;
}

export type FrontierLog = [address: Uint8Array, topics: Uint8Array[], data: Uint8Array];

export interface FrontierReceipt {
  /** 0 legacy, 1 EIP-2930, 2 EIP-1559. */
  type: 0 | 1 | 2;
  status: number;
  cumulativeGasUsed: bigint;
  logsBloom: Uint8Array;
  logs: FrontierLog[];
}

export interface FrontierTransaction {
  tx: TypedTransaction;
  /** TransactionV2 variant. */
  variant: string;
  hash: Uint8Array;
  from: Uint8Array;
  to?: Uint8Array;
  contractAddress?: Uint8Array;
  /** Index of the `ethereum.transact` extrinsic that carried it; undefined for EthereumChecked/Xvm entries. */
  extrinsic?: number;
  /**
   * An EthereumChecked/Xvm entry: a dummy signature (its sender is the status's `from`, set on `tx`), no EVM fee (the
   * Substrate extrinsic paid), and the pallet's own nonce in the transaction (the sender's account nonce still counts).
   */
  unsigned: boolean;
  /** Gas this transaction used (the difference of cumulative gas). */
  gasUsed: bigint;
}

export interface FrontierBlock {
  number: bigint;
  /** Substrate block hash and its parent's. */
  hash: Uint8Array;
  parentHash: Uint8Array;
  /** Hash of the Ethereum block Frontier built (keccak of its RLP header). */
  ethHash: Uint8Array;
  header: FrontierHeader;
  transactions: FrontierTransaction[];
  receipts: FrontierReceipt[];
  /** Base fee per gas the block's transactions paid (DynamicEvmBaseFee at the parent block). */
  baseFeePerGas: bigint;
  specVersion: number;
  /** `ethereum.transact` extrinsics of the block with no Ethereum transaction (refused before execution). */
  refused: number[];
  /**
   * Free-balance changes the block made outside its EVM transactions (Substrate transfers, fees, rewards, ...), per
   * Substrate account (hex), from the block's Balances events in every phase that is not an `ethereum.transact`.
   */
  nonEvm: Map<string, bigint>;
}

/** Free-balance effect of a Balances event: [account field, sign], per event. */
const BALANCE_EVENTS: Record<string, [string, 1n | -1n][]> = {
  Transfer: [
    ['from', -1n],
    ['to', 1n],
  ],
  Deposit: [['who', 1n]],
  Withdraw: [['who', -1n]],
  Minted: [['who', 1n]],
  Burned: [['who', -1n]],
  Reserved: [['who', -1n]],
  Unreserved: [['who', 1n]],
  DustLost: [['account', -1n]],
  Restored: [['who', 1n]],
  Suspended: [['who', -1n]],
};

export interface SelendraSourceOptions {
  url: string;
  label?: string;
  timeoutMs?: number;
}

const big = (c: Codec | undefined): bigint => (c === undefined ? 0n : bigOf(c));
const raw = (c: Codec | undefined): Uint8Array => (c === undefined ? new Uint8Array() : c.toU8a(true));

const RECEIPT_TYPES: Record<string, 0 | 1 | 2> = { Legacy: 0, EIP2930: 1, EIP1559: 2 };

export class SelendraSource {
  readonly kind = 'selendra';
  readonly label: string;
  private readonly opts: SelendraSourceOptions;
  private api?: ApiPromise;

  constructor(opts: SelendraSourceOptions) {
    this.opts = opts;
    this.label = opts.label ?? opts.url;
  }

  private fail(what: string, block?: bigint, cause?: unknown): ParallaxError {
    return new ParallaxError('SOURCE_FAILED', `${this.label}${block === undefined ? '' : ` block ${block}`}: ${what}`, { kind: 'bad_answer', ...(block === undefined ? {} : { block }) }, cause === undefined ? undefined : { cause });
  }

  async connect(): Promise<ApiPromise> {
    if (this.api !== undefined) return this.api;
    const provider = new WsProvider(this.opts.url, 1000, {}, this.opts.timeoutMs ?? 10_000);
    try {
      this.api = await ApiPromise.create({ provider, noInitWarn: true, throwOnConnect: true });
    } catch (e) {
      await provider.disconnect().catch(() => {});
      throw new ParallaxError('SOURCE_FAILED', `${this.label}: cannot connect: ${errorMessage(e)}`, { kind: 'unreachable' }, { cause: e });
    }
    return this.api;
  }

  /** Number of the node's best block. */
  async head(): Promise<bigint> {
    const api = await this.connect();
    return (await api.rpc.chain.getHeader()).number.toBigInt();
  }

  /** Number of the node's finalized block. */
  async finalized(): Promise<bigint> {
    const api = await this.connect();
    return (await api.rpc.chain.getHeader(await api.rpc.chain.getFinalizedHead())).number.toBigInt();
  }

  /** Substrate hash of block `n`, undefined if the node has none. */
  async hashAt(n: bigint): Promise<Uint8Array | undefined> {
    const api = await this.connect();
    const h = await api.rpc.chain.getBlockHash(n);
    return h.isEmpty ? undefined : h.toU8a();
  }

  /** The EVM chain id of the runtime (the `UnifiedAccounts` pallet's `ChainId` constant, 1961 on Selendra). */
  async chainId(): Promise<bigint> {
    const api = await this.connect();
    const c = api.consts.unifiedAccounts?.chainId as unknown as Codec | undefined;
    if (c === undefined) throw this.fail('the runtime has no UnifiedAccounts.ChainId constant (not a Selendra runtime?)');
    return big(c);
  }

  /** Block `n`: its EVM transactions and what the chain recorded for them, cross-checked. Undefined if not there yet. */
  async block(n: bigint, common: Common): Promise<FrontierBlock | undefined> {
    const hash = await this.hashAt(n);
    if (hash === undefined) return undefined;
    const api = await this.connect();
    const at = await api.at(hash);
    const [signed, current, receiptsOpt, statusesOpt, ethHashStored, version] = await Promise.all([
      api.rpc.chain.getBlock(hash),
      at.query.ethereum.currentBlock() as unknown as Promise<Opt<Struct>>,
      at.query.ethereum.currentReceipts() as unknown as Promise<Opt<Vec<Enum>>>,
      at.query.ethereum.currentTransactionStatuses() as unknown as Promise<Opt<Vec<Struct>>>,
      at.query.ethereum.blockHash(n) as unknown as Promise<Codec>,
      at.query.system.lastRuntimeUpgrade() as unknown as Promise<Opt<Struct>>,
    ]);
    const parentHash = signed.block.header.parentHash.toU8a();
    if (!current.isSome) throw this.fail('has no Ethereum::CurrentBlock (not a Frontier block?)', n);
    const eth = current.unwrap();
    const h = eth.get('header') as Struct;
    const header: FrontierHeader = {
      parentHash: raw(h.get('parentHash')),
      ommersHash: raw(h.get('ommersHash')),
      beneficiary: raw(h.get('beneficiary')),
      stateRoot: raw(h.get('stateRoot')),
      transactionsRoot: raw(h.get('transactionsRoot')),
      receiptsRoot: raw(h.get('receiptsRoot')),
      logsBloom: raw(h.get('logsBloom')),
      difficulty: big(h.get('difficulty')),
      number: big(h.get('number')),
      gasLimit: big(h.get('gasLimit')),
      gasUsed: big(h.get('gasUsed')),
      timestampMs: big(h.get('timestamp')),
      extraData: raw(h.get('extraData')),
      mixHash: raw(h.get('mixHash')),
      nonce: raw(h.get('nonce')),
    };
    if (header.number !== n) throw this.fail(`Ethereum::CurrentBlock is block ${header.number}`, n);
    const ethHash = frontierHeaderHash(header);
    const stored = raw(ethHashStored);
    if (stored.some((b) => b !== 0) && !bytesEqual(stored, ethHash)) {
      throw this.fail(`Ethereum header hashes to 0x${hex(ethHash)}, Ethereum::BlockHash(${n}) is 0x${hex(stored)}`, n);
    }

    // Receipts, then the transactions with their statuses.
    const receipts: FrontierReceipt[] = [];
    for (const r of receiptsOpt.isSome ? receiptsOpt.unwrap() : []) {
      const d = r.value as Struct;
      const type = RECEIPT_TYPES[r.type];
      if (type === undefined) throw this.fail(`receipt of unknown type ${r.type}`, n);
      const logs: FrontierLog[] = [];
      for (const l of d.get('logs') as Vec<Struct>) logs.push([raw(l.get('address')), [...(l.get('topics') as Vec<Codec>)].map(raw), raw(l.get('data'))]);
      receipts.push({ type, status: Number(big(d.get('statusCode'))), cumulativeGasUsed: big(d.get('usedGas')), logsBloom: raw(d.get('logsBloom')), logs });
    }
    const receiptsRoot = await frontierReceiptsRoot(receipts);
    if (!bytesEqual(receiptsRoot, header.receiptsRoot)) {
      throw this.fail(`Ethereum::CurrentReceipts hash to 0x${hex(receiptsRoot)}, the header's receipts root is 0x${hex(header.receiptsRoot)}`, n);
    }
    const statuses = [...(statusesOpt.isSome ? statusesOpt.unwrap() : [])];
    const ethTxs = [...(eth.get('transactions') as Vec<Codec>)];
    if (statuses.length !== ethTxs.length || receipts.length !== ethTxs.length) {
      throw this.fail(`${ethTxs.length} Ethereum transactions, ${receipts.length} receipts, ${statuses.length} statuses`, n);
    }

    // The block's ethereum.transact extrinsics, with the block's own types.
    const { registry } = await api.getBlockRegistry(hash);
    const carried: { index: number; hash: string }[] = [];
    signed.block.extrinsics.forEach((x, index) => {
      const d = decodeEvmExtrinsic(registry as never, x.toU8a(), common, `${this.label} block ${n} extrinsic ${index}`);
      if (d !== null) carried.push({ index, hash: hex(d.tx.hash()) });
    });

    const transactions: FrontierTransaction[] = [];
    let cumulative = 0n;
    let next = 0;
    for (const [i, value] of ethTxs.entries()) {
      const s = statuses[i];
      const where = `${this.label} block ${n} Ethereum transaction ${i}`;
      const from = raw(s.get('from'));
      const dummy = isDummySignature(value as Enum);
      const { tx, variant } = evmTransaction(value, common, where, !dummy);
      if (dummy) {
        const sender = new Address(from);
        (tx as { getSenderAddress(): Address }).getSenderAddress = () => sender;
      }
      const txHash = tx.hash();
      const statusHash = raw(s.get('transactionHash'));
      if (!bytesEqual(txHash, statusHash)) throw this.fail(`transaction ${i} hashes to 0x${hex(txHash)}, its status says 0x${hex(statusHash)}`, n);
      if (!dummy && !bytesEqual(tx.getSenderAddress().bytes, from)) {
        throw this.fail(`transaction ${i} is signed by ${tx.getSenderAddress().toString()}, its status says 0x${hex(from)}`, n);
      }
      let extrinsic: number | undefined;
      if (!dummy) {
        while (next < carried.length && carried[next].hash !== hex(txHash)) next++;
        if (next === carried.length) throw this.fail(`transaction ${i} (0x${hex(txHash)}) is in Ethereum::CurrentBlock but in no ethereum.transact extrinsic`, n);
        extrinsic = carried[next++].index;
      }
      const to = s.get('to') as Opt<Codec>;
      const created = s.get('contractAddress') as Opt<Codec>;
      const gasUsed = receipts[i].cumulativeGasUsed - cumulative;
      cumulative = receipts[i].cumulativeGasUsed;
      transactions.push({ tx, variant, hash: txHash, from, to: to.isSome ? raw(to.unwrap()) : undefined, contractAddress: created.isSome ? raw(created.unwrap()) : undefined, extrinsic, gasUsed, unsigned: dummy });
    }
    const executed = new Set(transactions.map((t) => t.extrinsic));
    const refused = carried.filter((c) => !executed.has(c.index)).map((c) => c.index);

    const evmExtrinsics = new Set(carried.map((c) => c.index));
    const nonEvm = new Map<string, bigint>();
    const events = (await at.query.system.events()) as unknown as Iterable<{ phase: { isApplyExtrinsic: boolean; asApplyExtrinsic: { toNumber(): number } }; event: { section: string; method: string; data: Codec[] & { names?: string[] | null } } }>;
    for (const { phase, event } of events) {
      if (phase.isApplyExtrinsic && evmExtrinsics.has(phase.asApplyExtrinsic.toNumber())) continue;
      const effects = event.section === 'balances' ? BALANCE_EVENTS[event.method] : undefined;
      if (effects === undefined) continue;
      const names = event.data.names ?? [];
      const field = (name: string) => event.data[names.indexOf(name)];
      const amount = big(field('amount'));
      for (const [name, sign] of effects) {
        const who = field(name);
        if (who === undefined) continue;
        const k = hex(raw(who));
        nonEvm.set(k, (nonEvm.get(k) ?? 0n) + sign * amount);
      }
    }

    const parentAt = await api.at(parentHash);
    const baseFeePerGas = big((await parentAt.query.dynamicEvmBaseFee.baseFeePerGas()) as unknown as Codec);
    const upgrade = version.isSome ? Number(big(version.unwrap().get('specVersion'))) : 0;
    return { number: n, hash, parentHash, ethHash, header, transactions, receipts, baseFeePerGas, specVersion: upgrade, refused, nonEvm };
  }

  async close(): Promise<void> {
    await this.api?.disconnect().catch(() => {});
    this.api = undefined;
  }
}

/** EthereumChecked and Xvm put transactions with r = s = 1 into the block: no signer, the status names the sender. */
function isDummySignature(t: Enum): boolean {
  const f = t.value as Struct;
  const sig = (f.get('signature') as Struct | undefined) ?? f;
  return big(sig.get('r')) === 1n && big(sig.get('s')) === 1n;
}

/** keccak256 of the RLP of Frontier's 15-field header (timestamp in milliseconds, as stored). */
export function frontierHeaderHash(h: FrontierHeader): Uint8Array {
  const q = bigIntToUnpaddedBytes;
  return keccak256(
    RLP.encode([h.parentHash, h.ommersHash, h.beneficiary, h.stateRoot, h.transactionsRoot, h.receiptsRoot, h.logsBloom, q(h.difficulty), q(h.number), q(h.gasLimit), q(h.gasUsed), q(h.timestampMs), h.extraData, h.mixHash, h.nonce]),
  );
}

/** Ordered trie root of the enveloped receipts (as Frontier and Ethereum compute it). */
export async function frontierReceiptsRoot(receipts: FrontierReceipt[]): Promise<Uint8Array> {
  const trie = new BatchTrie(EMPTY_ROOT, () => undefined);
  for (const [i, r] of receipts.entries()) {
    const receipt = { status: r.status as 0 | 1, cumulativeBlockGasUsed: r.cumulativeGasUsed, bitvector: r.logsBloom, logs: r.logs } as TxReceipt;
    trie.put(RLP.encode(i), encodeReceipt(receipt, r.type as Parameters<typeof encodeReceipt>[1]));
  }
  return trie.commit();
}

/**
 * The block as @ethereumjs executes it under Frontier rules: the author as coinbase, the timestamp in seconds (what
 * TIMESTAMP returns), PREVRANDAO 0, the base fee stored at the parent block, no blobs, no withdrawals, no beacon root
 * (Selendra has no beacon-roots contract, so the system call finds no code). Its hash is not Frontier's (Frontier's
 * header has no base fee and keeps milliseconds): `FrontierBlock.ethHash` is the chain's.
 */
export function executableBlock(fb: FrontierBlock, common: Common): Block {
  const h = fb.header;
  common.setHardforkBy({ blockNumber: h.number, timestamp: h.timestampMs / 1000n });
  const block = createBlock(
    {
      header: {
        parentHash: h.parentHash,
        uncleHash: h.ommersHash,
        coinbase: h.beneficiary,
        stateRoot: h.stateRoot,
        transactionsTrie: h.transactionsRoot,
        receiptTrie: h.receiptsRoot,
        logsBloom: h.logsBloom,
        difficulty: 0n,
        number: h.number,
        gasLimit: h.gasLimit,
        gasUsed: h.gasUsed,
        timestamp: h.timestampMs / 1000n,
        extraData: h.extraData,
        mixHash: new Uint8Array(32),
        nonce: new Uint8Array(8),
        baseFeePerGas: fb.baseFeePerGas,
        ...(common.isActivatedEIP(4895) ? { withdrawalsRoot: EMPTY_ROOT } : {}),
        ...(common.isActivatedEIP(4844) ? { blobGasUsed: 0n, excessBlobGas: 0n } : {}),
        ...(common.isActivatedEIP(4788) ? { parentBeaconBlockRoot: new Uint8Array(32) } : {}),
      },
      transactions: fb.transactions.map((t) => t.tx),
      ...(common.isActivatedEIP(4895) ? { withdrawals: [] } : {}),
    },
    // Unfrozen where a transaction's sender must be set from its status (createBlock builds its own transactions).
    { common, setHardfork: false, skipConsensusFormatValidation: true, freeze: !fb.transactions.some((t) => t.unsigned) },
  );
  for (const [i, t] of fb.transactions.entries()) {
    if (!t.unsigned) continue;
    const sender = new Address(t.from);
    (block.transactions[i] as { getSenderAddress(): Address }).getSenderAddress = () => sender;
  }
  // The block is known by the chain's hash (its children name it as parent), not by the hash of this re-encoding.
  setBlockHash(block, fb.ethHash);
  return block;
}
