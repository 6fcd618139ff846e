// Reads kubectl's table output as a person sees it: columns split where the header's names start.
export function kubectlTable(output: string): {
  header: string[];
  rows: Map<string, Record<string, string>>;
} {
  const [headerLine = '', ...lines] = output.trimEnd().split('\n');
  const header = headerLine.trim().split(/\s{2,}/);
  const starts: number[] = [];
  for (const column of header) starts.push(headerLine.indexOf(column, starts.at(-1) ?? 0));
  const rows = new Map<string, Record<string, string>>();
  for (const line of lines) {
    const row = Object.fromEntries(
      header.map((column, i) => [column, line.slice(starts[i], starts[i + 1]).trim()]),
    );
    rows.set(row.NAME ?? '', row);
  }
  return { header, rows };
}
