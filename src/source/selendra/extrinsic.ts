/**
 * EVM transactions out of Selendra extrinsics. `Ethereum.transact { transaction }` carries a Frontier
 * `TransactionV2` (Legacy, EIP2930 or EIP1559; later runtimes add variants), decoded here with the types of the
 * block's own runtime metadata and turned into the @ethereumjs typed transaction it encodes. Anything that does not
 * decode, has bytes left over, or whose signature does not recover a sender is a typed error naming where.
 */
import type { Common } from '@ethereumjs/common';
import { createAccessList2930Tx, createFeeMarket1559Tx, createLegacyTx, type TypedTransaction } from '@ethereumjs/tx';
import type { TypeRegistry } from '@polkadot/types';
import { ParallaxError, errorMessage } from '../../errors.ts';
import { bigOf, type Codec, type Enum, type Struct } from './codec.ts';


function big(c: Codec | undefined, what: string, where: string): bigint {
  if (c === undefined) throw new ParallaxError('TX_INVALID', `${where}: no field ${what}`);
  return bigOf(c);
}

function bytes(c: Codec | undefined, what: string, where: string): Uint8Array {
  if (c === undefined) throw new ParallaxError('TX_INVALID', `${where}: no field ${what}`);
  return c.toU8a(true);
}

function action(c: Codec | undefined, where: string): Uint8Array | undefined {
  const e = c as Enum | undefined;
  if (e === undefined) throw new ParallaxError('TX_INVALID', `${where}: no field action`);
  if (e.type === 'Create') return undefined;
  if (e.type === 'Call') return e.value.toU8a(true);
  throw new ParallaxError('TX_INVALID', `${where}: unknown action ${e.type}`);
}

function accessList(c: Codec | undefined): { address: `0x${string}`; storageKeys: `0x${string}`[] }[] {
  const items = (c?.toJSON() ?? []) as { address: string; storageKeys?: string[]; slots?: string[] }[];
  return items.map((i) => ({ address: i.address as `0x${string}`, storageKeys: (i.storageKeys ?? i.slots ?? []) as `0x${string}`[] }));
}

export interface DecodedEvmTx {
  /** The variant of TransactionV2 (Legacy, EIP2930, EIP1559). */
  variant: string;
  tx: TypedTransaction;
}

/**
 * Decode one extrinsic. Returns null when it is not `ethereum.transact` (other calls carry no EVM transaction of
 * their own); throws TX_INVALID, naming `where`, when it is malformed.
 */
export function decodeEvmExtrinsic(registry: TypeRegistry, raw: Uint8Array, common: Common, where: string): DecodedEvmTx | null {
  let ext: { method: { section: string; method: string; args: Codec[] }; encodedLength: number };
  try {
    ext = registry.createType('Extrinsic', raw) as unknown as typeof ext;
  } catch (e) {
    throw new ParallaxError('TX_INVALID', `${where}: extrinsic does not decode: ${errorMessage(e)}`, { where }, { cause: e });
  }
  if (ext.encodedLength !== raw.length) {
    throw new ParallaxError('TX_INVALID', `${where}: extrinsic is ${raw.length} bytes but decodes from ${ext.encodedLength}`, { where });
  }
  if (ext.method.section !== 'ethereum' || ext.method.method !== 'transact') return null;
  return evmTransaction(ext.method.args[0], common, where);
}

/**
 * A Frontier `TransactionV2` value (from an extrinsic or from `Ethereum::CurrentBlock`), typed by the runtime's
 * metadata, as the @ethereumjs transaction it encodes. With `signed` false the signature is not checked (entries of
 * `EthereumChecked` and `Xvm` carry a dummy one; their sender is in the transaction status).
 */
export function evmTransaction(value: unknown, common: Common, where: string, signed = true): DecodedEvmTx {
  const t = value as Enum;
  const f = t.value as Struct;
  const checked = (tx: TypedTransaction, w: string) => (signed ? recovers(tx, w) : tx);
  // Unsigned entries stay unfrozen: their sender is set from the transaction status (see SelendraSource.block).
  const opts = { common, freeze: signed };
  const g = (name: string) => f.get(name);
  const variant = t.type;
  try {
    switch (variant) {
      case 'Legacy': {
        const sig = g('signature') as Struct | undefined;
        if (sig === undefined) throw new ParallaxError('TX_INVALID', `${where}: legacy transaction without signature`);
        const tx = createLegacyTx(
          {
            nonce: big(g('nonce'), 'nonce', where),
            gasPrice: big(g('gasPrice'), 'gasPrice', where),
            gasLimit: big(g('gasLimit'), 'gasLimit', where),
            to: action(g('action'), where),
            value: big(g('value'), 'value', where),
            data: bytes(g('input'), 'input', where),
            v: big(sig.get('v'), 'signature.v', where),
            r: big(sig.get('r'), 'signature.r', where),
            s: big(sig.get('s'), 'signature.s', where),
          },
          opts,
        );
        return { variant, tx: checked(tx, where) };
      }
      case 'EIP2930':
      case 'EIP1559': {
        // Fields both typed variants share; they differ in how the fee is given.
        const typed = {
          chainId: big(g('chainId'), 'chainId', where),
          nonce: big(g('nonce'), 'nonce', where),
          gasLimit: big(g('gasLimit'), 'gasLimit', where),
          to: action(g('action'), where),
          value: big(g('value'), 'value', where),
          data: bytes(g('input'), 'input', where),
          accessList: accessList(g('accessList')),
          v: g('oddYParity')?.toJSON() === true ? 1n : 0n,
          r: big(g('r'), 'r', where),
          s: big(g('s'), 's', where),
        };
        const tx =
          variant === 'EIP2930'
            ? createAccessList2930Tx({ ...typed, gasPrice: big(g('gasPrice'), 'gasPrice', where) }, opts)
            : createFeeMarket1559Tx(
                { ...typed, maxPriorityFeePerGas: big(g('maxPriorityFeePerGas'), 'maxPriorityFeePerGas', where), maxFeePerGas: big(g('maxFeePerGas'), 'maxFeePerGas', where) },
                opts,
              );
        return { variant, tx: checked(tx, where) };
      }
      default:
        throw new ParallaxError('TX_INVALID', `${where}: TransactionV2 variant ${variant} is not supported yet`, { where, variant });
    }
  } catch (e) {
    if (e instanceof ParallaxError) throw e;
    throw new ParallaxError('TX_INVALID', `${where}: ${variant} transaction is invalid: ${errorMessage(e)}`, { where, variant }, { cause: e });
  }
}

/** The signature must recover a sender (Ethereum.transact is unsigned at the Substrate level: it is the only proof). */
function recovers(tx: TypedTransaction, where: string): TypedTransaction {
  try {
    tx.getSenderAddress();
  } catch (e) {
    throw new ParallaxError('TX_INVALID', `${where}: the signature does not recover a sender: ${errorMessage(e)}`, { where }, { cause: e });
  }
  return tx;
}

/**
 * The `ethereum.transact` extrinsic that carries a signed @ethereumjs transaction (what a wallet's eth_sendRawTransaction
 * becomes on a Frontier node), encoded with the runtime's types. Used by the local chain's traffic generator.
 */
export function encodeEvmExtrinsic(registry: TypeRegistry, tx: TypedTransaction): Uint8Array {
  const h256 = (x: bigint | undefined) => '0x' + (x ?? 0n).toString(16).padStart(64, '0');
  const body: Record<string, unknown> = {
    nonce: tx.nonce,
    gasLimit: tx.gasLimit,
    action: tx.to === undefined ? { Create: null } : { Call: tx.to.toString() },
    value: tx.value,
    // Hex strings: a Uint8Array would be taken as already SCALE-encoded (length prefix included).
    input: '0x' + Buffer.from(tx.data).toString('hex'),
  };
  let variant: string;
  if (tx.type === 0) {
    variant = 'Legacy';
    Object.assign(body, { gasPrice: (tx as { gasPrice: bigint }).gasPrice, signature: { v: tx.v, r: h256(tx.r), s: h256(tx.s) } });
  } else if (tx.type === 1 || tx.type === 2) {
    const t = tx as TypedTransaction & { chainId: bigint; accessList: [Uint8Array, Uint8Array[]][] };
    Object.assign(body, {
      chainId: t.chainId,
      accessList: t.accessList.map(([address, keys]) => ({ address: '0x' + Buffer.from(address).toString('hex'), storageKeys: keys.map((k) => '0x' + Buffer.from(k).toString('hex')) })),
      oddYParity: tx.v === 1n,
      r: h256(tx.r),
      s: h256(tx.s),
    });
    if (tx.type === 1) {
      variant = 'EIP2930';
      body.gasPrice = (tx as { gasPrice: bigint }).gasPrice;
    } else {
      variant = 'EIP1559';
      Object.assign(body, { maxFeePerGas: (tx as { maxFeePerGas: bigint }).maxFeePerGas, maxPriorityFeePerGas: (tx as { maxPriorityFeePerGas: bigint }).maxPriorityFeePerGas });
    }
  } else {
    throw new ParallaxError('TX_INVALID', `transaction type ${tx.type} has no TransactionV2 variant`);
  }
  const ethereum = registry.metadata.pallets.find((p) => p.name.toString() === 'Ethereum');
  if (ethereum === undefined) throw new ParallaxError('CONFIG_INVALID', 'the runtime has no Ethereum pallet');
  const call = registry.createType('Call', { callIndex: [ethereum.index.toNumber(), 0], args: { transaction: { [variant]: body } } });
  return registry.createType('Extrinsic', { method: call }).toU8a();
}
