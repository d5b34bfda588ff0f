import { anor } from './anor.js';
import type { ConfirmProvider, ConfirmProviderName } from './confirm-provider.js';
import { payme } from './payme.js';
import { uzum } from './uzum.js';

export const CONFIRM_PROVIDERS: Readonly<Record<ConfirmProviderName, ConfirmProvider>> = { payme, uzum, anor };
export const CONFIRM_PROVIDER_NAMES = Object.keys(CONFIRM_PROVIDERS) as ConfirmProviderName[];

export function isConfirmProvider(name: string): name is ConfirmProviderName {
  return Object.hasOwn(CONFIRM_PROVIDERS, name);
}
