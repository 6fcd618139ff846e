// 'apicred-operator/<version>': the version is package.json's, inlined into the bundle the image runs.
import manifest from '../../package.json' with { type: 'json' };

export const DEFAULT_USER_AGENT = `apicred-operator/${manifest.version}`;
