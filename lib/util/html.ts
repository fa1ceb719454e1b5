/** Text for HTML element content and quoted attribute values: & < > " and ' become numeric character references (single-quoted attributes stay closed too). */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
