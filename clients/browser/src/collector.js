// riskengine's browser collector. It gathers the device fields of /v1/assess with
// FingerprintJS (open source, MIT) and a bot verdict with BotD (MIT), sends them to the
// engine's POST /v1/device with a publishable key, and resolves to the signed device token
// that the page hands to its own backend with the signup or login form.
//
//   <script src="https://risk.example.com/collector.js" integrity="sha384-..." crossorigin="anonymous"></script>
//   const token = await riskengine.collect({endpoint: "https://risk.example.com", publishableKey: "pk_..."});
import FingerprintJS from '@fingerprintjs/fingerprintjs';
import { load as loadBotd } from '@fingerprintjs/botd';

// Hardware- and rendering-level traits: they change with the machine, not with a browser
// update or a cleared profile, so they link accounts that a fresh profile would hide.
const HARDWARE = ['canvas', 'webGlBasics', 'webGlExtensions', 'audio', 'hardwareConcurrency', 'deviceMemory',
  'screenResolution', 'colorDepth', 'fonts', 'math', 'architecture', 'platform'];

function componentsHash(components) {
  const chosen = {};
  for (const name of HARDWARE) {
    if (components[name] !== undefined) chosen[name] = components[name];
  }
  return FingerprintJS.hashComponents(chosen);
}

async function botVerdict() {
  try {
    // monitoring: false keeps the library from calling its vendor's servers.
    const botd = await loadBotd({ monitoring: false });
    const result = botd.detect();
    return { detected: result.bot === true, kind: result.bot ? result.botKind : null };
  } catch (error) {
    return { detected: false, kind: null, error: String(error && error.name || error) };
  }
}

function timezone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || null;
  } catch (error) {
    return null;
  }
}

export async function fields() {
  const [agent, bot] = await Promise.all([FingerprintJS.load({ monitoring: false }), botVerdict()]);
  const result = await agent.get();
  return {
    visitor_id: result.visitorId,
    components_hash: componentsHash(result.components),
    timezone: timezone(),
    languages: Array.from(navigator.languages || (navigator.language ? [navigator.language] : [])),
    screen: `${screen.width}x${screen.height}`,
    platform: navigator.platform || null,
    webdriver: navigator.webdriver === true,
    bot,
    user_agent: navigator.userAgent,
  };
}

export async function collect({ endpoint, publishableKey, timeoutMs = 5000 } = {}) {
  if (!endpoint || !publishableKey) throw new TypeError('riskengine.collect needs endpoint and publishableKey');
  const body = await fields();
  const controller = typeof AbortController === 'function' ? new AbortController() : null;
  const timer = controller && setTimeout(() => controller.abort(), timeoutMs);
  try {
    const response = await fetch(`${endpoint.replace(/\/+$/, '')}/v1/device`, {
      method: 'POST',
      mode: 'cors',
      credentials: 'omit',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${publishableKey}` },
      body: JSON.stringify(body),
      signal: controller ? controller.signal : undefined,
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = answer.error || {};
      throw new Error(`riskengine /v1/device ${response.status} ${error.code || ''}: ${error.message || ''}`.trim());
    }
    return answer.device_token;
  } finally {
    if (timer) clearTimeout(timer);
  }
}

if (typeof window !== 'undefined') {
  window.riskengine = Object.assign(window.riskengine || {}, { collect, fields });
}
