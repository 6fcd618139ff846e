// Not a failure: the provider waits for a person to approve a login on another device (RFC 8628).
// The controller shows where to approve, polls again at `pollAt`, and counts no failure.

/** Where and until when a person can approve; none of it is a credential (the device code is not here). */
export interface UserApprovalRequest {
  /** verification_uri: the page to open. */
  verificationUri: string;
  /** verification_uri_complete: the same page with the user code filled in, when the server gives one. */
  verificationUriComplete?: string;
  userCode: string;
  /** When the code expires, epoch ms. */
  expiresAt: number;
}

export interface AwaitingUserApprovalDetails {
  /**
   * Ready's reason while waiting: AwaitingUserApproval for a first approval, or why an earlier one
   * ended (ApprovalDenied, ApprovalExpired, WrongApprover, RefreshChainEnded).
   */
  reason: string;
  /** What happened and where to approve, safe to show. */
  message: string;
  request: UserApprovalRequest;
  /** When to poll the server next, epoch ms. */
  pollAt: number;
}

const AWAITING = Symbol.for('apicred-operator.AwaitingUserApproval');

export class AwaitingUserApproval extends Error {
  readonly reason: string;
  readonly request: UserApprovalRequest;
  readonly pollAt: number;
  readonly [AWAITING] = true;

  constructor(details: AwaitingUserApprovalDetails) {
    super(details.message);
    this.name = 'AwaitingUserApproval';
    this.reason = details.reason;
    this.request = details.request;
    this.pollAt = details.pollAt;
  }

  static is(value: unknown): value is AwaitingUserApproval {
    return (
      typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[AWAITING] === true
    );
  }
}
