import { escapeHtml } from '../lib/util/html';

test('escapeHtml escapes all five characters, ampersand first so nothing is escaped twice', () => {
  expect(escapeHtml(`a & b < c > d "e" 'f'`)).toBe('a &#38; b &#60; c &#62; d &#34;e&#34; &#39;f&#39;');
  expect(escapeHtml('&#38;')).toBe('&#38;#38;');
  expect(escapeHtml('plain · text')).toBe('plain · text');
});
