/**
 * The worker pool: spawns execution workers, serves their state reads from the main thread (which owns LevelDB),
 * routes their results, and replaces a worker that crashed or hung.
 */
import { Worker } from 'node:worker_threads';
import { ParallaxError, errorMessage } from '../errors.ts';
import type { ToMain, ToWorker, WorkerInit } from './protocol.ts';

/** Answers a worker's read of committed state: account RLP, slot value, code, or a block hash. */
export type StateServer = (kind: 'a' | 's' | 'c' | 'h', key: string) => Promise<Uint8Array | null>;

type Listener = (worker: number, m: ToMain) => void;
type FailureListener = (worker: number, error: Error) => void;

const WORKER_URL = new URL('./worker.ts', import.meta.url);

/** How long a worker asked to stop has before it is terminated from outside. */
const STOP_GRACE_MS = 5_000;

/**
 * End a worker. Terminating one from outside while it is inside a native addon's call (keccak and secp256k1 of the
 * senders it recovers ahead, LevelDB reads) makes node-addon-api abort the whole process ("Error::Error
 * napi_create_reference", seen when the benchmark closed an engine whose workers were still recovering the next
 * block's senders). So the worker is asked to stop: it exits at its next message, between two tasks. One that does
 * not within `STOP_GRACE_MS` (hung in a loop) is terminated.
 */
function stopWorker(worker: Worker, onTerminate: () => void): Promise<void> {
  // An ended worker's threadId is -1: nothing to wait for.
  if (worker.threadId < 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      onTerminate();
      void worker.terminate().then(() => resolve(), () => resolve());
    }, STOP_GRACE_MS);
    worker.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    worker.postMessage({ t: 'stop' } satisfies ToWorker);
  });
}

export class WorkerPool {
  readonly size: number;
  private readonly init: Omit<WorkerInit, 'abortFlag' | 'index'>;
  private readonly serve: StateServer;
  private workers: Worker[] = [];
  private listener: Listener = () => {};
  private failure: FailureListener = () => {};
  private closing = false;
  /** Worker replacements so far (crashes and hangs). */
  replacements = 0;
  /** The nice value each worker's thread runs at, as it reported when ready (undefined: it could not set one). */
  readonly nice: (number | undefined)[] = [];
  /** Workers that did not stop when asked (see `stopWorker`) and were terminated from outside. */
  terminated = 0;
  private readonly abortFlag = new SharedArrayBuffer(4);

  constructor(size: number, init: Omit<WorkerInit, 'abortFlag' | 'index'>, serve: StateServer) {
    if (!Number.isInteger(size) || size < 1) throw new ParallaxError('CONFIG_INVALID', `workers must be a positive integer, got ${size}`);
    this.size = size;
    this.init = init;
    this.serve = serve;
  }

  async start(): Promise<void> {
    this.workers = await Promise.all(Array.from({ length: this.size }, (_, i) => this.spawn(i)));
  }

  onMessage(l: Listener): void {
    this.listener = l;
  }

  onFailure(l: FailureListener): void {
    this.failure = l;
  }

  /** `transfer`: buffers handed over, not copied (the sender must not use them again). */
  send(w: number, m: ToWorker, transfer?: ArrayBuffer[]): void {
    this.workers[w].postMessage(m, transfer);
  }

  /** Worker `w` has not exited (a message to one that has is lost). */
  alive(w: number): boolean {
    return this.workers[w].threadId >= 0;
  }

  broadcast(m: ToWorker): void {
    for (const w of this.workers) w.postMessage(m);
  }

  private spawn(index: number): Promise<Worker> {
    const worker = new Worker(WORKER_URL, { workerData: { ...this.init, abortFlag: this.abortFlag, index } satisfies WorkerInit });
    // Workers never keep the process alive on their own: whoever waits on them holds a timer.
    worker.unref();
    return new Promise((resolve, reject) => {
      let ready = false;
      worker.on('message', (m: ToMain) => {
        if (m.t === 'ready') {
          ready = true;
          this.nice[index] = m.nice;
          resolve(worker);
        } else if (m.t === 'get') {
          this.serve(m.kind, m.key).then(
            (value) => worker.postMessage({ t: 'value', id: m.id, value } satisfies ToWorker),
            (e) => this.failure(index, new Error(`state read for worker ${index} failed: ${errorMessage(e)}`)),
          );
        } else if (this.workers[index] === worker) {
          this.listener(index, m);
        }
      });
      worker.on('error', (e) => {
        if (!ready) reject(new ParallaxError('WORKER_FAILED', `worker ${index} failed to start: ${errorMessage(e)}`, {}, { cause: e }));
        else if (this.workers[index] === worker) this.failure(index, e);
      });
      worker.on('exit', (code) => {
        if (!ready) reject(new ParallaxError('WORKER_FAILED', `worker ${index} exited with ${code} before it was ready`));
        else if (!this.closing && this.workers[index] === worker) this.failure(index, new Error(`worker ${index} exited with code ${code}`));
      });
    });
  }

  /** Replacements under way, by worker index (see `replace`). */
  private readonly replacing = new Map<number, Promise<void>>();

  /**
   * Stop worker `index` and start a fresh one in its place (its cache starts cold). Callers that see the same failure
   * (a worker that crashes with a state-root share and a block's receipts on it) share one replacement: two at once
   * would each start a worker, and the first one's would be left running outside the pool.
   */
  replace(index: number): Promise<void> {
    const pending = this.replacing.get(index);
    if (pending !== undefined) return pending;
    const p = this.replaceNow(index).finally(() => this.replacing.delete(index));
    this.replacing.set(index, p);
    return p;
  }

  private async replaceNow(index: number): Promise<void> {
    const old = this.workers[index];
    this.replacements++;
    const fresh = await this.spawn(index);
    this.workers[index] = fresh;
    await stopWorker(old, () => this.terminated++);
  }

  /** Stop the workers' remaining transactions of block `seq` (and earlier) at their next transaction boundary. */
  abort(seq: number): void {
    Atomics.store(new Int32Array(this.abortFlag), 0, seq);
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((w) => stopWorker(w, () => this.terminated++)));
  }
}
