/** Child process for the crash test: commits the test chain to a LevelDB, announcing each commit, until killed. */
import { devCommon } from './chain.ts';
import { buildTestChain } from './workload.ts';
import { startChain } from './store.ts';

const dir = process.argv[2];
const common = devCommon();
const chain = buildTestChain(common, 12);
const { store, executor } = await startChain(common, chain, dir);
for (const block of chain.blocks) {
  await executor.commit(await executor.execute(block));
  process.stdout.write(`committed ${block.header.number}\n`);
}
await store.close();
