/**
 * Mainnet block fixtures: a block as `eth_getBlockByNumber(n, true)` serves it, the pre-state of every account it
 * touches, and the hashes BLOCKHASH may ask for. The pre-state is partial, so the header's state root cannot be
 * recomputed; receipts root, gas used and logs bloom can, and must match exactly.
 */
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { basename } from 'node:path';
import { createBlockFromRPC, type Block, type JSONRPCBlock } from '@ethereumjs/block';
import type { Common } from '@ethereumjs/common';
import { ParallaxError, errorMessage } from '../errors.ts';
import type { Alloc } from '../state/genesis.ts';
import { bytesEqual, fromHex, prefixed } from '../util/bytes.ts';

export interface MainnetFixture {
  file: string;
  block: Block;
  preState: Alloc;
  blockHashes: Map<bigint, Uint8Array>;
}

/** The fixture file as JSON, checked for shape (gzip or plain). */
export interface RawFixture {
  file: string;
  block: JSONRPCBlock;
  preState: Alloc;
  blockHashes?: Record<string, string>;
}

export async function readFixture(path: string): Promise<RawFixture> {
  const name = basename(path);
  let json: Partial<RawFixture>;
  try {
    const raw = await readFile(path);
    const text = path.endsWith('.gz') ? gunzipSync(raw).toString('utf8') : raw.toString('utf8');
    json = JSON.parse(text);
  } catch (e) {
    throw new ParallaxError('FIXTURE_INVALID', `${name}: cannot read fixture: ${errorMessage(e)}`, { file: path }, { cause: e });
  }
  if (json === null || typeof json !== 'object' || typeof json.block !== 'object' || typeof json.preState !== 'object') {
    throw new ParallaxError('FIXTURE_INVALID', `${name}: expected an object with "block" and "preState"`, { file: path });
  }
  return { file: path, block: json.block!, preState: json.preState!, blockHashes: json.blockHashes };
}

export function decodeFixture(json: RawFixture, common: Common): MainnetFixture {
  const path = json.file;
  const name = basename(path);
  let block: Block;
  try {
    block = createBlockFromRPC(json.block, [], { common, setHardfork: true });
  } catch (e) {
    throw new ParallaxError('FIXTURE_INVALID', `${name}: block does not decode: ${errorMessage(e)}`, { file: path }, { cause: e });
  }
  const declared = json.block.hash;
  if (typeof declared === 'string' && !bytesEqual(block.hash(), fromHex(declared))) {
    throw new ParallaxError('FIXTURE_INVALID', `${name}: header hashes to ${prefixed(block.hash())}, fixture says ${declared}`, { file: path });
  }
  const blockHashes = new Map<bigint, Uint8Array>();
  for (const [n, h] of Object.entries(json.blockHashes ?? {})) blockHashes.set(BigInt(n), fromHex(h));
  blockHashes.set(block.header.number - 1n, block.header.parentHash);
  return { file: path, block, preState: json.preState, blockHashes };
}
