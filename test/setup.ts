// Runs in every test worker before its tests: the SDK logs at WARN so test output shows what matters.
import { installRuntime } from '../src/worker.js';

installRuntime('WARN');
