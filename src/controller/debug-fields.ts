// What a debug log line says about a decision: the action and why, never a value.
import type { Action } from '../policy/decide.ts';
import { formatTime } from '../policy/time.ts';

export interface ActionFields {
  action: Action['type'];
  why?: string;
  until?: string;
}

export function actionFields(action: Action): ActionFields {
  switch (action.type) {
    case 'obtain':
      return { action: action.type, why: action.why };
    case 'wait':
      return { action: action.type, why: 'token still fresh', until: formatTime(action.until, 'seconds') };
    case 'backoff':
      return {
        action: action.type,
        why: 'waiting out the retry delay',
        until: formatTime(action.until, 'seconds'),
      };
    case 'refuse':
      return { action: action.type, why: action.reason };
    case 'stalled':
      return {
        action: action.type,
        why: 'a terminal failure; waiting for the spec or an input to change',
        until: formatTime(action.until, 'seconds'),
      };
    case 'expired':
      return {
        action: action.type,
        why: `the token expired at ${formatTime(action.expiredAt, 'seconds')} while renewal is failing`,
        until: formatTime(action.until, 'seconds'),
      };
    case 'repair':
      return { action: action.type, why: 'the consumer Secret was edited or lost keys' };
  }
}
