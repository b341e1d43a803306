import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { BatchTrie } from '../src/state/mpt.ts';
import { packNodes } from '../src/state/trie.ts';
import { NODE_FILE, NodeFile, NodeFileReader, RECORD_HEADER } from '../src/state/node-file.ts';
import { META_NODE_FILE, META_SCHEMA, P_NODE } from '../src/state/keys.ts';
import { StateStore } from '../src/state/store.ts';
import { createDatabase } from '../src/state/db.ts';
import { BlockExecutor } from '../src/exec/executor.ts';
import { commitGenesis } from '../src/state/genesis.ts';
import { isParallaxError } from '../src/errors.ts';
import { hex } from '../src/util/bytes.ts';
import { devCommon } from './helpers/chain.ts';
import { buildTestChain } from './helpers/workload.ts';
import { startChain } from './helpers/store.ts';

const EMPTY_ROOT = new Uint8Array(Buffer.from('56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421', 'hex'));

/** The nodes of a real trie of `n` random keys: packed as the workers pack them, and each hash with its encoding. */
function trieNodes(n: number, root = EMPTY_ROOT, load = (_h: string): Uint8Array | undefined => undefined) {
  const trie = new BatchTrie(root, load);
  for (let i = 0; i < n; i++) trie.put(new Uint8Array(randomBytes(32)), new Uint8Array(randomBytes(40 + (i % 50))));
  const rootHash = trie.commit();
  const nodes = new Map<string, Uint8Array>();
  for (const [h, enc] of trie.nodes) nodes.set(h, enc);
  return { packed: packNodes(trie.nodes), nodes, root: rootHash };
}

const bytesOf = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));

function expectAll(file: NodeFileReader, nodes: Map<string, Uint8Array>, what: string) {
  for (const [h, enc] of nodes) assert.equal(hex(file.get(bytesOf(h)) ?? new Uint8Array()), hex(enc), `${what}: node ${h}`);
}

async function tempDir(name: string) {
  return mkdtemp(join(tmpdir(), `parallax-${name}-`));
}

test('node file: room reserved ahead of an append is made at once, and the append then keeps the index it was given', async () => {
  const dir = await tempDir('nodefile-reserve');
  try {
    const file = NodeFile.at(join(dir, NODE_FILE), 0, undefined, 16);
    const first = trieNodes(200);
    file.append([first.packed]);
    const next = trieNodes(1200);
    // Reserving room for no more than there is changes nothing.
    const before = file.view().index;
    file.reserve(0);
    assert.equal(file.view().index, before, 'reserve(0) grew the index');
    file.reserve(next.nodes.size);
    const reserved = file.view().index;
    assert.notEqual(reserved, before, 'reserve did not grow the index for 1,200 more nodes');
    // A reader given the index before the growth still finds what was there (the old index is left as it was).
    const reader = NodeFileReader.reader({ ...file.view(), index: before });
    expectAll(reader, first.nodes, 'reader of the index before the growth');
    file.append([next.packed]);
    assert.equal(file.view().index, reserved, 'the append grew the index although room was reserved');
    expectAll(file, first.nodes, 'first block after the reserved growth');
    expectAll(file, next.nodes, 'second block, appended into reserved room');
    reader.close();
    file.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('node file: every appended node is found by its hash, through index growth, after reopening, and by another reader', async () => {
  const dir = await tempDir('nodefile');
  try {
    const path = join(dir, NODE_FILE);
    // 16 slots to begin with: thousands of nodes make the index grow many times.
    const file = NodeFile.at(path, 0, undefined, 16);
    const reader = NodeFileReader.reader(file.view());
    const a = trieNodes(1500);
    const la = file.append([a.packed]);
    assert.equal(la, a.packed.length);
    assert.equal(file.nodes, a.nodes.size);
    const b = trieNodes(1500);
    const lb = file.append([b.packed.subarray(0, 37 + new DataView(b.packed.buffer).getUint32(0)), b.packed.subarray(37 + new DataView(b.packed.buffer).getUint32(0))]);
    assert.equal(lb, la + b.packed.length);
    expectAll(file, a.nodes, 'first block');
    expectAll(file, b.nodes, 'second block, appended in two parts');
    // Not there: a hash that was never written, and one that shares its first eight bytes with a stored node.
    assert.equal(file.get(new Uint8Array(randomBytes(32))), undefined);
    const twin = bytesOf([...a.nodes.keys()][0]);
    twin[31] ^= 1;
    assert.equal(file.get(twin), undefined);
    // The worker's reader on the index it was first given misses what came after a growth; on the current one, not.
    assert.equal(reader.get(bytesOf([...b.nodes.keys()][0])), undefined);
    reader.use(file.view().index);
    expectAll(reader, b.nodes, 'reader');
    // The same nodes again (a block recreating them): indexed once.
    const before = file.nodes;
    file.append([a.packed]);
    assert.equal(file.nodes, before);
    const length = file.length;
    reader.close();
    file.close();
    // Reopened: the index rebuilt from the file, its progress reported up to the whole length.
    const progress: [number, number][] = [];
    const again = NodeFile.at(path, length, (done, total) => progress.push([done, total]));
    assert.deepEqual(progress.at(-1), [length, length]);
    // Another opening of the same path: a worker's reader of the first one knows to open the file again.
    assert.notEqual(again.view().opening, file.view().opening);
    assert.equal(again.nodes, a.nodes.size + b.nodes.size);
    expectAll(again, a.nodes, 'reopened, first block');
    expectAll(again, b.nodes, 'reopened, second block');
    again.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('node file: nodes past the recorded length are cut off; a short or broken file is a typed error naming it', async () => {
  const dir = await tempDir('nodefile-crash');
  try {
    const path = join(dir, NODE_FILE);
    const file = NodeFile.at(path, 0);
    const a = trieNodes(400);
    const committed = file.append([a.packed]);
    // A block whose nodes were appended but whose batch never landed (the process died in between).
    const lost = trieNodes(400);
    file.append([lost.packed]);
    file.close();
    const reopened = NodeFile.at(path, committed);
    assert.equal((await stat(path)).size, committed);
    expectAll(reopened, a.nodes, 'committed block');
    for (const h of lost.nodes.keys()) assert.equal(reopened.get(bytesOf(h)), undefined, `node ${h} of the lost block`);
    // The next block goes where the lost one was.
    const c = trieNodes(400);
    assert.equal(reopened.append([c.packed]), committed + c.packed.length);
    expectAll(reopened, c.nodes, 'block after the cut');
    const full = reopened.length;
    reopened.close();

    // The database expects more than the file holds.
    assert.throws(() => NodeFile.at(path, full + 1), (e) => isParallaxError(e, 'DB_CORRUPT') && e.message.includes(path) && e.message.includes(String(full)));
    // A record's kind byte overwritten: the rebuild stops there and names the offset.
    const bytes = new Uint8Array(await readFile(path));
    const second = RECORD_HEADER + new DataView(bytes.buffer).getUint32(0);
    bytes[second + 4] = 0x7f;
    await writeFile(path, bytes);
    assert.throws(() => NodeFile.at(path, full), (e) => isParallaxError(e, 'DB_CORRUPT') && e.message.includes(`offset ${second}`));
    // A length that runs past the recorded end.
    bytes[second + 4] = P_NODE;
    new DataView(bytes.buffer).setUint32(second, 200_000);
    await writeFile(path, bytes);
    assert.throws(() => NodeFile.at(path, full), (e) => isParallaxError(e, 'DB_CORRUPT') && e.message.includes(`offset ${second}`));
    // Appending something that is not packed nodes writes nothing.
    await rm(path);
    const fresh = NodeFile.at(path, 0);
    assert.throws(() => fresh.append([new Uint8Array([0, 0, 0, 40, P_NODE, 1, 2])]), /malformed at byte 0/);
    assert.equal(fresh.length, 0);
    assert.equal((await stat(path)).size, 0);
    fresh.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

const common = devCommon();
const chain = buildTestChain(common, 12);

/** LevelDB keys with the node prefix in the database at `dir`, and the schema it records. */
async function levelNodes(dir: string) {
  const db = new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
  let nodes = 0;
  for await (const _ of db.keys({ gte: Uint8Array.of(P_NODE), lt: Uint8Array.of(P_NODE + 1) })) nodes++;
  const schema = await db.get(META_SCHEMA);
  const length = await db.get(META_NODE_FILE);
  await db.close();
  return { nodes, schema: schema?.[0], fileLength: length === undefined ? undefined : Number(Buffer.from(length).readBigUint64BE()) };
}

async function runOn(dir: string, from: number, to: number, nodeFile?: boolean) {
  const store = await StateStore.open(createDatabase(dir), common, { undoDepth: 64, nodeFile });
  if (store.head() === undefined) await commitGenesis(store, chain.alloc, chain.genesis, 'test genesis');
  const executor = await BlockExecutor.create({ common, store });
  const roots: string[] = [];
  for (const block of chain.blocks.slice(from, to)) {
    const r = await executor.execute(block);
    await executor.commit(r);
    roots.push(hex(r.stateRoot));
  }
  await store.close();
  return roots;
}

/** The chain's state roots on a store in memory (nodes in LevelDB), block after block. */
const referenceRoots = (async () => {
  const { store, executor } = await startChain(common, chain);
  const roots: string[] = [];
  for (const block of chain.blocks) {
    const r = await executor.execute(block);
    await executor.commit(r);
    roots.push(hex(r.stateRoot));
  }
  await store.close();
  return roots;
})();

test('store on disk: the trie nodes go to the node file, not LevelDB, and a reopened store reads them back', async () => {
  const reference = await referenceRoots;
  const dir = await tempDir('nodefile-store');
  try {
    // Half the chain, then a new store (empty caches: the trie's nodes come from the file) for the rest.
    const first = await runOn(dir, 0, 6);
    const mid = await levelNodes(dir);
    assert.equal(mid.nodes, 0, 'no trie node in LevelDB');
    assert.equal(mid.schema, 2);
    assert.equal(mid.fileLength, (await stat(join(dir, NODE_FILE))).size);
    const second = await runOn(dir, 6, 12);
    assert.deepEqual([...first, ...second], reference);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('store on disk: a schema-1 database (nodes in LevelDB) goes on with its new nodes in the file', async () => {
  const reference = await referenceRoots;
  const dir = await tempDir('nodefile-legacy');
  try {
    const first = await runOn(dir, 0, 6, false);
    // What this version's predecessor wrote: every node in LevelDB, schema 1.
    const db = new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
    await db.put(META_SCHEMA, Uint8Array.of(1));
    await db.close();
    const legacy = await levelNodes(dir);
    assert.ok(legacy.nodes > 0);
    assert.equal(legacy.fileLength, undefined);
    const second = await runOn(dir, 6, 12);
    assert.deepEqual([...first, ...second], reference);
    const after = await levelNodes(dir);
    assert.equal(after.nodes, legacy.nodes, 'the new nodes went to the file');
    assert.equal(after.schema, 2);
    assert.ok(after.fileLength! > 0);
    // Opened by a store that would not read the file: refused, not run on a trie it cannot see.
    await assert.rejects(
      StateStore.open(createDatabase(dir), common, { undoDepth: 64, nodeFile: false }),
      (e) => isParallaxError(e, 'DB_CORRUPT') && e.message.includes(NODE_FILE),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('store on disk: a node file that lost its last blocks (a power loss without sync) unwinds them at open; beyond the undo journal, DB_CORRUPT', async () => {
  const reference = await referenceRoots;
  const dir = await tempDir('nodefile-lost');
  try {
    const first = await runOn(dir, 0, 3);
    const afterThree = (await levelNodes(dir)).fileLength!;
    await runOn(dir, 3, 6);
    const path = join(dir, NODE_FILE);
    // The pages of blocks 4-6 lost, and some of block 4's written: LevelDB's head is block 6.
    await truncate(path, afterThree + 100);
    const unwound: number[] = [];
    const store = await StateStore.open(createDatabase(dir), common, { undoDepth: 64, onNodeFile: (f) => unwound.push(f.unwound) });
    assert.deepEqual(unwound, [3]);
    assert.equal(store.head()!.number, 3n);
    assert.equal(hex(store.head()!.stateRoot), first[2]);
    assert.equal((await stat(path)).size, afterThree, 'the partial block cut off');
    await store.close();
    // Blocks 4-12 executed again on what is left: the reference's roots.
    assert.deepEqual(await runOn(dir, 3, 12), reference.slice(3));
    // Lost beyond what the undo journal can unwind (the genesis's nodes too): refused, naming the file.
    await truncate(path, 10);
    await assert.rejects(StateStore.open(createDatabase(dir), common, { undoDepth: 64 }), (e) => isParallaxError(e, 'DB_CORRUPT') && e.message.includes(path));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
