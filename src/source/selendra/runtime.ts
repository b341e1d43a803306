/**
 * A Selendra runtime from a raw chain spec, with no node: the genesis `:code` (zstd-compressed wasm), its metadata
 * (obtained by calling the runtime's own `Metadata_metadata` in the wasm executor that ships with
 * @acala-network/chopsticks-core) and a type registry built from that metadata. Tests decode real extrinsics with it;
 * the local development chain boots from the same spec.
 */
import { readFile } from 'node:fs/promises';
import { zstdDecompressSync } from 'node:zlib';
import { Metadata, TypeRegistry } from '@polkadot/types';
import { ParallaxError, errorMessage } from '../../errors.ts';
import { chopsticks } from './chopsticks.ts';

/** `:code` as a storage key. */
export const CODE_KEY = '0x3a636f6465';
/** `Timestamp::Now` as a storage key. */
export const TIMESTAMP_NOW_KEY = '0xf0c365c3cf59d671eb72da0e7a4113c49f1f0515f462cdcf84e0f1d6045dfcbb';
/** Prefix of zstd-compressed runtime code (sp-maybe-compressed-blob). */
const ZSTD_PREFIX = Buffer.from('52bc537646db8e05', 'hex');

export interface ChainSpec {
  name: string;
  id: string;
  properties?: Record<string, unknown>;
  genesis: { raw: { top: Record<string, string>; childrenDefault?: Record<string, unknown> } };
  [k: string]: unknown;
}

export async function readChainSpec(path: string): Promise<ChainSpec> {
  let spec: ChainSpec;
  try {
    spec = JSON.parse(await readFile(path, 'utf8')) as ChainSpec;
  } catch (e) {
    throw new ParallaxError('CONFIG_INVALID', `chain spec ${path}: cannot read it as JSON: ${errorMessage(e)}`, { file: path }, { cause: e });
  }
  const code = spec?.genesis?.raw?.top?.[CODE_KEY];
  if (typeof code !== 'string' || !code.startsWith('0x')) {
    throw new ParallaxError('CONFIG_INVALID', `chain spec ${path}: not a raw chain spec with the runtime code (genesis.raw.top[":code"])`, { file: path });
  }
  return spec;
}

/** The runtime wasm of a spec, decompressed. */
export function runtimeWasm(spec: ChainSpec, where = 'chain spec'): Buffer {
  const code = Buffer.from(spec.genesis.raw.top[CODE_KEY].slice(2), 'hex');
  if (!code.subarray(0, 8).equals(ZSTD_PREFIX)) return code;
  try {
    return zstdDecompressSync(code.subarray(8));
  } catch (e) {
    throw new ParallaxError('CONFIG_INVALID', `${where}: the runtime code does not decompress: ${errorMessage(e)}`, {}, { cause: e });
  }
}

function leb128(buf: Uint8Array, at: number): [number, number] {
  let value = 0;
  let shift = 0;
  let b: number;
  do {
    b = buf[at++];
    value |= (b & 0x7f) << shift;
    shift += 7;
  } while (b & 0x80);
  return [value >>> 0, at];
}

/**
 * Set `system_version` in the wasm's `runtime_version` custom section (its last byte) to `to`. Chopsticks' executor
 * cannot decode version 2 (RuntimeVersionDecode); the runtime itself never reads that section. Returns the old value.
 */
export function patchSystemVersion(wasm: Uint8Array, to: number): number | undefined {
  let at = 8; // magic + version
  while (at < wasm.length) {
    const id = wasm[at];
    const [size, body] = leb128(wasm, at + 1);
    const end = body + size;
    if (id === 0) {
      const [nameLen, name] = leb128(wasm, body);
      if (Buffer.from(wasm.subarray(name, name + nameLen)).toString() === 'runtime_version') {
        const old = wasm[end - 1];
        wasm[end - 1] = to;
        return old;
      }
    }
    at = end;
  }
  return undefined;
}

export interface RuntimeTypes {
  registry: TypeRegistry;
  metadata: Metadata;
  specVersion: number;
}

/** The runtime's metadata, from its own `Metadata_metadata` call (over `storage`, e.g. genesis), and its types. */
export async function runtimeTypes(wasm: Uint8Array, storage: Record<string, string> = {}): Promise<RuntimeTypes> {
  // The executor refuses system_version 2 before it runs anything; the runtime itself never reads that byte.
  const code = Uint8Array.from(wasm);
  patchSystemVersion(code, 1);
  const hex = ('0x' + Buffer.from(code).toString('hex')) as `0x${string}`;
  const { emptyTaskHandler, runTask } = await chopsticks();
  const keys = Object.keys(storage).sort();
  const callback = {
    ...emptyTaskHandler,
    getStorage: async (key: string) => storage[key],
    getNextKey: async (prefix: string, key: string) => keys.find((k) => k > key && k.startsWith(prefix)),
  };
  const r = await runTask({ wasm: hex, calls: [['Metadata_metadata', []]], mockSignatureHost: false, allowUnresolvedImports: false, runtimeLogLevel: 0 }, callback as never);
  if ('Error' in r) throw new ParallaxError('CONFIG_INVALID', `the runtime's Metadata_metadata call failed: ${r.Error}`);
  const registry = new TypeRegistry();
  // The call returns OpaqueMetadata: a SCALE Vec<u8> around the metadata bytes.
  const opaque = registry.createType('Bytes', Buffer.from(r.Call.result.slice(2), 'hex'));
  const metadata = new Metadata(registry, opaque.toU8a(true));
  registry.setMetadata(metadata);
  // The runtime's version is a constant of the System pallet, typed by the metadata itself.
  const system = metadata.asLatest.pallets.find((p) => p.name.toString() === 'System');
  const version = system?.constants.find((c) => c.name.toString() === 'Version');
  const specVersion = version === undefined ? 0 : Number((registry.createType(registry.createLookupType(version.type), version.value).toJSON() as { specVersion?: number }).specVersion ?? 0);
  return { registry, metadata, specVersion };
}

/** Stop the wasm executor's worker thread (it keeps the process alive otherwise). */
export async function closeRuntimeExecutor(): Promise<void> {
  await (await chopsticks()).destroyWorker();
}
