/* jemalloc's options for Skein's programs, read once when jemalloc starts (its weak `malloc_conf`
 * symbol; the MALLOC_CONF environment variable still overrides them).
 *
 * thp:always, metadata_thp:always: back the arenas and jemalloc's own metadata with transparent
 * huge pages (madvise(MADV_HUGEPAGE), honoured when the kernel's THP mode is `madvise` or
 * `always`). A registry flooded with runs touches fresh memory for every run in flight; with 4 KiB
 * pages each first touch is a page fault, and a page fault costs several microseconds on a
 * virtual machine. Measured on the development VM (bench/registry_bench, bench/graph_bench):
 * 48,000 -> 4,000 page faults for 20,000 runs submitted back to back, 23 -> 15 us per run;
 * node transitions through the registry +39 %; peak RSS of the Apply-only chain 12 -> 16 MB;
 * memory per run parked at a gate unchanged (7.3-7.5 KB). */
const char* malloc_conf = "thp:always,metadata_thp:always";
