// Holds back the watch events of one resource, for tests only: APICRED_WATCH_DELAY=<resource>:<ms>
// (apicredentials, secrets, configmaps). Inert unless set. A test uses it to keep the operator's cache
// behind its own writes, as a slow watch can in a busy cluster, and prove that no reconcile acts on the
// older copy. Events keep their order, and the end of the stream comes after the last of them.
import { setTimeout as sleep } from 'node:timers/promises';
import type { WatchEventType, WatchHandle } from '../kube/informer.ts';

type OnEvent = (type: WatchEventType, object: unknown) => void;

const setting = /^([a-z]+):(\d+)$/.exec(process.env.APICRED_WATCH_DELAY ?? '');

function watchDelayMs(resource: string): number {
  return setting?.[1] === resource ? Number(setting[2]) : 0;
}

export async function watchWithTestDelay(
  resource: string,
  onEvent: OnEvent,
  start: (onEvent: OnEvent) => Promise<WatchHandle>,
): Promise<WatchHandle> {
  const delayMs = watchDelayMs(resource);
  if (delayMs === 0) return start(onEvent);
  const handle = await start((type, object) => {
    setTimeout(() => {
      onEvent(type, object);
    }, delayMs);
  });
  return {
    abort: () => {
      handle.abort();
    },
    done: handle.done.then((result) => sleep(delayMs, result)),
  };
}
