/**
 * The entry point of one worker isolate of a server running several (started by
 * `server/workers/coordinator.ts`): it serves with the ordinary serve loop, listening with
 * `SO_REUSEPORT` on the common port, its quota, caps and upload state in the shared memory,
 * logins, commit locks and log lines sent to the coordinator (which tags the lines `worker=N`).
 *
 * @module
 */

import { FerryError, messageOf } from "../../protocol/errors.ts";
import type { LogFields } from "../log.ts";
import { MAX_REFUSING, serveIsolate } from "../server.ts";
import type { FerryServer } from "../server.ts";
import type { LoginOutcome } from "../logins.ts";
import type { KeyedLock } from "../storage/staging.ts";
import type { FromWorker, ToWorker, WorkerStart } from "./messages.ts";
import { SharedConnectionCaps, sharedQuota, sharedTemps } from "./shared_state.ts";

/** The worker's side of its channel to the coordinator. */
interface Channel {
  postMessage(message: FromWorker): void;
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
}

/** Requests to the coordinator waiting for their answer, by id. */
class Pending<T> {
  readonly #waiting = new Map<number, (value: T) => void>();
  #last = 0;

  /** A new id and the promise its answer resolves. */
  open(): [number, Promise<T>] {
    const id = ++this.#last;
    return [id, new Promise<T>((resolve) => this.#waiting.set(id, resolve))];
  }

  /** Resolves request `id`. */
  settle(id: number, value: T): void {
    const resolve = this.#waiting.get(id);
    this.#waiting.delete(id);
    resolve?.(value);
  }
}

/** Serves as worker `start.worker` until the coordinator says shutdown. */
async function run(channel: Channel, start: WorkerStart): Promise<void> {
  const logins = new Pending<LoginOutcome>();
  const locks = new Pending<void>();
  let server: FerryServer | undefined;
  let stopping: string | undefined;
  const log = (fields: LogFields) => channel.postMessage({ type: "log", fields });
  const caps = new SharedConnectionCaps(start.buffers, start.limits, MAX_REFUSING);
  let waitingLocks = 0;
  const commits: KeyedLock = {
    async run(key, work) {
      const [id, granted] = locks.open();
      waitingLocks++;
      channel.postMessage({ type: "lock", id, key });
      try {
        await granted;
      } finally {
        waitingLocks--;
      }
      try {
        return await work();
      } finally {
        channel.postMessage({ type: "unlock", id });
      }
    },
    get size() {
      return waitingLocks;
    },
  };

  const inbox = (message: ToWorker) => {
    if (message.type === "login-result") logins.settle(message.id, message.outcome);
    else if (message.type === "locked") locks.settle(message.id, undefined);
    else if (message.type === "shutdown") {
      stopping ??= message.reason;
      void server?.shutdown(message.reason);
    }
  };
  channel.onmessage = (event) => inbox(event.data);

  try {
    server = await serveIsolate(
      {
        hostname: start.hostname,
        port: start.port,
        root: start.root,
        storage: start.storage,
        cert: start.cert,
        key: start.key,
        accounts: [],
        limits: start.limits,
        log,
      },
      {
        quota: sharedQuota(start.buffers, start.limits.quotaBytes),
        connections: caps,
        nextConnection: () => caps.nextConnection(),
        logins: {
          attempt(address, token) {
            const [id, outcome] = logins.open();
            channel.postMessage({ type: "login", id, address, token });
            return outcome;
          },
        },
        staging: { temps: sharedTemps(start.buffers), commits },
        cleanup: start.cleanup,
        requestShutdown: (by) => channel.postMessage({ type: "close-server", by }),
      },
    );
  } catch (err) {
    channel.postMessage({
      type: "failed",
      error: messageOf(err),
      code: err instanceof FerryError ? err.code : undefined,
      name: err instanceof Error ? err.name : undefined,
    });
    return;
  }
  channel.postMessage({
    type: "listening",
    port: server.addr.port,
    kind: server.storage.kind,
    reason: server.storage.reason,
    root: start.root,
  });
  if (stopping !== undefined) void server.shutdown(stopping);
  await server.finished;
  channel.postMessage({ type: "stopped" });
}

const channel = self as unknown as Channel;
channel.onmessage = (event) => {
  const message = event.data;
  if (message.type !== "start") return;
  void run(channel, message);
};
