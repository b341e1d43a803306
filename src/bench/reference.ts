/**
 * The reference engine: serial @ethereumjs/vm `runBlock` with the library's defaults (MerkleStateManager over an
 * in-memory trie, pure-JS crypto). Every speed figure Parallax reports is printed beside this one, measured in the
 * same run on the same blocks.
 */
import type { CpuMeter } from './cpu.ts';
import { Common, Mainnet } from '@ethereumjs/common';
import { createBlockFromRPC, type Block } from '@ethereumjs/block';
import { MerkleStateManager } from '@ethereumjs/statemanager';
import { Account, createAddressFromString, hexToBytes, setLengthLeft, unpadBytes } from '@ethereumjs/util';
import type { PrefixedHexString } from '@ethereumjs/util';
import { createVM, runBlock } from '@ethereumjs/vm';
import { loadKzg } from '../crypto/index.ts';
import type { Alloc } from '../state/genesis.ts';
import { bytesEqual } from '../util/bytes.ts';

export interface ReferenceRun {
  gas: bigint;
  txs: number;
  ms: number;
  /** receiptsRoot, gasUsed and logsBloom equal the header's. */
  matched: boolean;
}

/** Load an allocation into a MerkleStateManager (not timed by callers). */
export async function loadAlloc(sm: MerkleStateManager, alloc: Alloc): Promise<void> {
  for (const [addr, a] of Object.entries(alloc)) {
    const address = createAddressFromString(addr);
    await sm.putAccount(address, new Account(BigInt(a.nonce ?? 0), BigInt(a.balance ?? 0)));
    const code = hexToBytes((a.code ?? '0x') as PrefixedHexString);
    if (code.length > 0) await sm.putCode(address, code);
    for (const [k, v] of Object.entries(a.storage ?? {})) {
      const value = unpadBytes(hexToBytes(v as PrefixedHexString));
      if (value.length > 0) await sm.putStorage(address, setLengthLeft(hexToBytes(k as PrefixedHexString), 32), value);
    }
  }
  await sm.flush();
}

/** Run one fixture block with the reference engine. `blockJson` is the RPC block, `blockHashes` for BLOCKHASH. */
export async function runReferenceBlock(
  blockJson: unknown,
  preState: Alloc,
  blockHashes: Map<bigint, Uint8Array>,
  cpu?: CpuMeter,
): Promise<ReferenceRun> {
  // Library defaults: no customCrypto except KZG, which blob blocks cannot do without.
  const common = new Common({ chain: Mainnet, customCrypto: { kzg: await loadKzg() } });
  const block: Block = createBlockFromRPC(blockJson as Parameters<typeof createBlockFromRPC>[0], [], { common, setHardfork: true });
  common.setHardforkBy({ blockNumber: block.header.number, timestamp: block.header.timestamp });
  const stateManager = new MerkleStateManager({ common });
  await loadAlloc(stateManager, preState);
  const blockchain = {
    getBlock: async (n: number | bigint | Uint8Array) => ({
      hash: () => (typeof n === 'object' ? new Uint8Array(32) : (blockHashes.get(BigInt(n)) ?? new Uint8Array(32))),
    }),
    putBlock: async () => {},
    shallowCopy() {
      return this;
    },
  };
  const vm = await createVM({ common, stateManager, blockchain });
  cpu?.start();
  const t0 = performance.now();
  const res = await runBlock(vm, { block, generate: true, skipBlockValidation: true, skipHeaderValidation: true });
  const ms = performance.now() - t0;
  cpu?.stop();
  const h = block.header;
  const matched = bytesEqual(res.receiptsRoot, h.receiptTrie) && res.gasUsed === h.gasUsed && bytesEqual(res.logsBloom, h.logsBloom);
  return { gas: res.gasUsed, txs: block.transactions.length, ms, matched };
}
