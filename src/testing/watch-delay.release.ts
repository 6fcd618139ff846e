// The bundle's watch (scripts/build.ts swaps this in for watch-delay.ts): events pass straight through.
import type { WatchEventType, WatchHandle } from '../kube/informer.ts';

type OnEvent = (type: WatchEventType, object: unknown) => void;

export function watchWithTestDelay(
  _resource: string,
  onEvent: OnEvent,
  start: (onEvent: OnEvent) => Promise<WatchHandle>,
): Promise<WatchHandle> {
  return start(onEvent);
}
