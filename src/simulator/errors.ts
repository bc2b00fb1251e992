/** The simulator's one error type: a provider error code (which fixes the HTTP status) and a message for the caller. */
import { PROVIDER_ERROR_STATUS, type ProviderErrorCode } from '../provider/types.js';

export class SimulatorError extends Error {
  constructor(
    readonly code: ProviderErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'SimulatorError';
  }

  get status(): number {
    return PROVIDER_ERROR_STATUS[this.code];
  }
}

export const notFound = (what: string, id: string): SimulatorError =>
  new SimulatorError('not_found', `${what} "${id}" does not exist`);

export const conflict = (message: string): SimulatorError => new SimulatorError('conflict', message);
