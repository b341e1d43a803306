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

interface Codec {
  toU8a(bare?: boolean): Uint8Array;
  toJSON(): unknown;
  toString(): string;
}
interface StructLike extends Codec {
  get(name: string): Codec | undefined;
}
interface EnumLike extends Codec {
  type: string;
  value: Codec;
  isEmpty: boolean;
}

function big(c: Codec | undefined, what: string, where: string): bigint {
  if (c === undefined) throw new ParallaxError('TX_INVALID', `${where}: no field ${what}`);
  const n = (c as unknown as { toBigInt?: () => bigint }).toBigInt;
  if (typeof n === 'function') return n.call(c);
  // H256-typed values (r, s) are big-endian bytes.
  const b = c.toU8a(true);
  return b.length === 0 ? 0n : BigInt('0x' + Buffer.from(b).toString('hex'));
}

function bytes(c: Codec | undefined, what: string, where: string): Uint8Array {
  if (c === undefined) throw new ParallaxError('TX_INVALID', `${where}: no field ${what}`);
  return c.toU8a(true);
}

function action(c: Codec | undefined, where: string): Uint8Array | undefined {
  const e = c as EnumLike | undefined;
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
  const t = ext.method.args[0] as EnumLike;
  const f = t.value as StructLike;
  const g = (name: string) => f.get(name);
  const variant = t.type;
  try {
    switch (variant) {
      case 'Legacy': {
        const sig = g('signature') as StructLike | undefined;
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
          { common },
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
            ? createAccessList2930Tx({ ...typed, gasPrice: big(g('gasPrice'), 'gasPrice', where) }, { common })
            : createFeeMarket1559Tx(
                { ...typed, maxPriorityFeePerGas: big(g('maxPriorityFeePerGas'), 'maxPriorityFeePerGas', where), maxFeePerGas: big(g('maxFeePerGas'), 'maxFeePerGas', where) },
                { common },
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
function checked(tx: TypedTransaction, where: string): TypedTransaction {
  try {
    tx.getSenderAddress();
  } catch (e) {
    throw new ParallaxError('TX_INVALID', `${where}: the signature does not recover a sender: ${errorMessage(e)}`, { where }, { cause: e });
  }
  return tx;
}
