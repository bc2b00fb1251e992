/** Every workflow type the Understudy worker registers; the bundler starts here. */
export { stackProbeWorkflow } from './stackProbe.js';
