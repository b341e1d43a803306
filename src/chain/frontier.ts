/**
 * Frontier execution rules (a Substrate chain's EVM, as pallet-evm runs it), for a chain profile that declares them.
 * What differs from Ethereum's Cancun rules as @ethereumjs implements them:
 *   - precompiles: only those the runtime installs (Selendra: 0x01-0x05, 0x400 Sha3FIPS256, 0x401
 *     ECRecoverPublicKey); BLOBHASH and BLOBBASEFEE do not exist;
 *   - the header environment: timestamp kept in milliseconds (TIMESTAMP is seconds), PREVRANDAO 0, the coinbase is the
 *     block author as an H160, the base fee is the one stored at the parent block, and GASPRICE returns that base fee;
 *   - the gas a transaction is charged is not only the EVM's: two meters run beside it (proof size and storage
 *     growth), and the receipt records the largest of the three (see ./frontier-meters.ts).
 */
import { createHash } from 'node:crypto';
import type { Common } from '@ethereumjs/common';
import type { CustomPrecompile, EVMOpts, ExecResult, PrecompileInput } from '@ethereumjs/evm';
import { EVMError } from '@ethereumjs/evm';
import { Address, bigIntToBytes, bytesToBigInt, setLengthLeft, setLengthRight } from '@ethereumjs/util';
import { ecrecover } from '../crypto/index.ts';
import { CANCUN_FROM_GENESIS, type ChainProfile } from './profile.ts';

/** The Frontier rules of a chain (plain data: crosses to the worker threads inside the chain profile). */
export interface FrontierRules {
  /** Gas per byte of proof size (pallet-evm GasLimitPovSizeRatio); 0 = no proof-size meter. */
  povRatio: number;
  /** Gas per byte of storage growth (GasLimitStorageGrowthRatio); 0 = no storage meter. */
  storageRatio: number;
  /** Proof size of an account's basic record (nonce and balance) in this runtime (96 before spec 20015, then 108). */
  accountBasicProofSize: number;
  /** Balances below this cannot exist: the EVM sees free balance minus it (decimal string: wei). */
  existentialDeposit: string;
}

/** Selendra's runtime at spec 20005 (the genesis runtime of the public chain specs). */
export const SELENDRA_20005: FrontierRules = { povRatio: 16, storageRatio: 400, accountBasicProofSize: 96, existentialDeposit: '500000000' };

/** Selendra (chain id 1961): Cancun rules from genesis, as Frontier applies them, with a runtime's Frontier rules. */
export function selendraProfile(rules: FrontierRules = SELENDRA_20005, chainId = 1961): ChainProfile {
  return {
    name: 'selendra',
    chainId,
    forks: CANCUN_FROM_GENESIS,
    frontier: rules,
  };
}

const ADDRESSES_REMOVED = [0x06, 0x07, 0x08, 0x09, 0x0a];
/** BLOBHASH, BLOBBASEFEE: not in the EVM configuration Frontier runs. */
const OPCODES_REMOVED = [0x49, 0x4a];

function word(n: number): bigint {
  return BigInt(Math.ceil(n / 32));
}

function outOfGas(gasLimit: bigint): ExecResult {
  return { returnValue: new Uint8Array(), executionGasUsed: gasLimit, exceptionError: new EVMError(EVMError.errorMessages.OUT_OF_GAS) };
}

/** A precompile error: the call fails and its gas is consumed (Frontier's PrecompileFailure::Error). */
function failed(gasLimit: bigint): ExecResult {
  return { returnValue: new Uint8Array(), executionGasUsed: gasLimit, exceptionError: new EVMError(EVMError.errorMessages.INVALID_INPUT_LENGTH) };
}

/** 0x400: SHA3-256 as FIPS 202 defines it (not Keccak-256); 60 gas plus 12 per word. */
function sha3Fips256(input: PrecompileInput): ExecResult {
  const gas = 60n + 12n * word(input.data.length);
  if (input.gasLimit < gas) return outOfGas(input.gasLimit);
  return { executionGasUsed: gas, returnValue: createHash('sha3-256').update(input.data).digest() };
}

/** 0x401: the 64-byte public key (x ++ y) that signed a hash, with ecrecover's input layout; 3,000 gas. */
function ecrecoverPublicKey(input: PrecompileInput): ExecResult {
  const gas = 3000n;
  if (input.gasLimit < gas) return outOfGas(input.gasLimit);
  const data = setLengthRight(input.data, 128);
  const v = bytesToBigInt(data.subarray(32, 64));
  const r = bytesToBigInt(data.subarray(64, 96));
  const s = bytesToBigInt(data.subarray(96, 128));
  // v is 27 or 28 in the word's last byte, nothing before it; anything else is an error (the call fails).
  if (!(v === 27n || v === 28n)) return failed(input.gasLimit);
  try {
    return { executionGasUsed: gas, returnValue: ecrecover(data.subarray(0, 32), v, bigIntToBytes(r), bigIntToBytes(s)) };
  } catch {
    return failed(input.gasLimit);
  }
}

const at = (n: number) => new Address(setLengthLeft(bigIntToBytes(BigInt(n)), 20));

/** The EVM options that give @ethereumjs Frontier's instruction and precompile set. */
export function frontierEvmOptions(_rules: FrontierRules, _common: Common): { customPrecompiles: CustomPrecompile[]; customOpcodes: NonNullable<EVMOpts['customOpcodes']> } {
  return {
    customPrecompiles: [
      ...ADDRESSES_REMOVED.map((n) => ({ address: at(n) })),
      { address: at(0x400), function: sha3Fips256 },
      { address: at(0x401), function: ecrecoverPublicKey },
    ],
    customOpcodes: [
      ...OPCODES_REMOVED.map((opcode) => ({ opcode })),
      // GASPRICE: pallet-evm's vicinity carries the block's base fee as the gas price, whatever the transaction paid.
      { opcode: 0x3a, opcodeName: 'GASPRICE', baseFee: 2, logicFunction: (runState: { stack: { push(v: bigint): void }; interpreter: { getBlockBaseFee(): bigint } }) => runState.stack.push(runState.interpreter.getBlockBaseFee()) },
    ] as NonNullable<EVMOpts['customOpcodes']>,
  };
}
