/**
 * EVM state as a Selendra node holds it, read in batches at a given block (`state_queryStorageAt`):
 *   - an account: `System::Account` of the Substrate account its address maps to (`UnifiedAccounts::EvmToNative`
 *     when claimed, else blake2_256("evm:" ++ h160)) gives the nonce and the balance the EVM sees, which is the
 *     reducible balance: free minus what must stay (the existential deposit, or frozen funds not covered by
 *     reserves); `EVM::AccountCodes` gives the code;
 *   - a slot: `EVM::AccountStorages(address, slot)`, zero when absent.
 */
import type { ApiPromise } from '@polkadot/api';
import { u8aToHex } from '@polkadot/util';
import { defaultNativeAccount, storageKey } from './accounts.ts';
import type { Codec } from './codec.ts';

export interface ChainAccount {
  nonce: bigint;
  /** What the EVM sees (reducible balance). */
  balance: bigint;
  /** Free balance of the Substrate account. */
  free: bigint;
  code: Uint8Array;
  /** The Substrate account the address maps to. */
  id: Uint8Array;
}

export class FrontierState {
  private readonly api: ApiPromise;
  private readonly existentialDeposit: bigint;

  constructor(api: ApiPromise, existentialDeposit: bigint) {
    this.api = api;
    this.existentialDeposit = existentialDeposit;
  }

  /** Raw values of storage keys at block `at` (undefined where absent), 512 keys per request. */
  async raw(keys: Uint8Array[], at: Uint8Array): Promise<(Uint8Array | undefined)[]> {
    const out: (Uint8Array | undefined)[] = [];
    const provider = (this.api as unknown as { _rpcCore: { provider: { send(m: string, p: unknown[]): Promise<unknown> } } })._rpcCore.provider;
    for (let i = 0; i < keys.length; i += 512) {
      const chunk = keys.slice(i, i + 512).map((k) => u8aToHex(k));
      const sets = (await provider.send('state_queryStorageAt', [chunk, u8aToHex(at)])) as { changes: [string, string | null][] }[];
      const found = new Map<string, Uint8Array | undefined>();
      for (const set of sets) for (const [k, v] of set.changes) found.set(k, v === null ? undefined : Uint8Array.from(Buffer.from(v.slice(2), 'hex')));
      for (const k of chunk) out.push(found.get(k));
    }
    return out;
  }

  /** Accounts (20-byte addresses) at block `at`. */
  async accounts(addresses: Uint8Array[], at: Uint8Array): Promise<ChainAccount[]> {
    const registry = this.api.registry;
    const first = await this.raw([...addresses.map((a) => storageKey.evmToNative(a)), ...addresses.map((a) => storageKey.accountCode(a))], at);
    const ids = addresses.map((a, i) => first[i] ?? defaultNativeAccount(a));
    const infos = await this.raw(ids.map((id) => storageKey.systemAccount(id)), at);
    return addresses.map((_, i) => {
      const raw = infos[i];
      let nonce = 0n;
      let free = 0n;
      let balance = 0n;
      if (raw !== undefined) {
        const info = registry.createType('FrameSystemAccountInfo', raw) as unknown as { nonce: { toBigInt(): bigint }; data: { free: { toBigInt(): bigint }; reserved: { toBigInt(): bigint }; frozen: { toBigInt(): bigint } } };
        nonce = info.nonce.toBigInt();
        free = info.data.free.toBigInt();
        const frozen = info.data.frozen.toBigInt() - info.data.reserved.toBigInt();
        const untouchable = frozen > this.existentialDeposit ? frozen : this.existentialDeposit;
        balance = free > untouchable ? free - untouchable : 0n;
      }
      const codeRaw = first[addresses.length + i];
      const code = codeRaw === undefined ? new Uint8Array() : (registry.createType('Bytes', codeRaw) as unknown as Codec).toU8a(true);
      return { nonce, balance, free, code, id: ids[i] };
    });
  }

  /** Storage slots (address, 32-byte slot) at block `at`, as numbers. */
  async slots(pairs: [Uint8Array, Uint8Array][], at: Uint8Array): Promise<bigint[]> {
    const values = await this.raw(pairs.map(([a, s]) => storageKey.accountStorage(a, s)), at);
    return values.map((v) => (v === undefined || v.length === 0 ? 0n : BigInt('0x' + Buffer.from(v).toString('hex'))));
  }
}
