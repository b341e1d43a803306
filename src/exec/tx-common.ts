/**
 * A Common for decoding transactions cheaply.
 *
 * Every @ethereumjs/tx constructor copies the Common it is given and merges the transaction parameters into the copy
 * (`common.copy()`, then `updateParams`, which deep-copies parameter tables through JSON and rebuilds the parameter
 * cache). Profiled on a worker thread, that was about 130 us per transaction: more than recovering its sender. The
 * Common returned here is its own copy and merges each parameter table once, so decoding a transaction costs what
 * decoding its fields costs. Transactions decoded with it share it: set its hardfork per block, as the executor does
 * with its own.
 */
import { Common } from '@ethereumjs/common';

export function sharedTxCommon(common: Common): Common {
  const shared = common.copy();
  const merged = new Set<object>();
  shared.copy = () => shared;
  shared.updateParams = (params) => {
    if (merged.has(params)) return;
    merged.add(params);
    Common.prototype.updateParams.call(shared, params);
  };
  return shared;
}
