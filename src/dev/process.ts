/**
 * A local node as a child process: started, waited for until it prints its ready line, its output drained (so a
 * chatty node never blocks on a full pipe), and stopped with SIGTERM (SIGKILL after 5 s).
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { ParallaxError } from '../errors.ts';

export interface NodeProcessOptions {
  /** What to call it in errors. */
  name: string;
  command: string;
  args: string[];
  spawn?: SpawnOptions;
  /** Text of the line that says the node is ready. */
  ready: string;
  timeoutMs: number;
  /** Receives the node's output (default: dropped). */
  onOutput?: (text: string) => void;
}

export interface NodeProcess {
  process: ChildProcess;
  stop(): Promise<void>;
}

export async function startNodeProcess(o: NodeProcessOptions): Promise<NodeProcess> {
  const child = spawn(o.command, o.args, { ...o.spawn, stdio: ['ignore', 'pipe', 'pipe'] });
  // Only the tail is kept: enough to find the ready line and to quote in an error.
  let tail = '';
  let ready = false;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new ParallaxError('SOURCE_FAILED', `${o.name} did not start within ${o.timeoutMs} ms: ${tail.slice(-400)}`));
    }, o.timeoutMs);
    const onData = (b: Buffer) => {
      const text = b.toString();
      o.onOutput?.(text.trimEnd());
      if (ready) return;
      tail = (tail + text).slice(-4096);
      if (tail.includes(o.ready)) {
        ready = true;
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (!ready) reject(new ParallaxError('SOURCE_FAILED', `${o.name} exited with code ${code} before starting: ${tail.slice(-400)}`));
    });
  });
  return {
    process: child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}
