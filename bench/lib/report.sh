# The result JSON and the printed table of bench/compare (sourced).
#
# REPORT_JQ turns the raw runs (one iscsi-load JSON line each, tagged with
# workload/target/round) into the result document:
#   summary[workload][target]  the median-IOPS round's figures
#   tgt_best[workload]         the better of tgt-rdwr / tgt-aio, per figure
#   ratios[workload][vstor-*]  vstor / tgt_best, per figure
#   spdk_ratios[workload][vstor-*]  with --spdk: vstor / SPDK, its peer LUN
#                              (vstor-ram: spdk-malloc, vstor-file: spdk-aio),
#                              as the median of the per-round ratios (each
#                              round's vstor run over the same round's SPDK
#                              run) with the worst round beside it
#   digest_ratios[workload][target]  with --digests: <workload>-dig over
#                              <workload>, median of the per-round ratios
#   bars                       the targets with PASS / MISS

# shellcheck disable=SC2016
REPORT_JQ='
def first_seen: reduce .[] as $x ([]; if any(.[]; . == $x) then . else . + [$x] end);
def median_run: sort_by(.iops) | .[((length - 1) / 2 | floor)];
def ratio($a; $b): if ($a == null or $b == null or $b == 0 or $a == 0) then null else $a / $b end;
def lat(f): if .lat_us.count > 0 then (.lat_us | f) else null end;
def figures:
  { ios, iops, mb_s,
    mean_us: lat(.mean), p50_us: lat(.p50), p99_us: lat(.p99), p999_us: lat(.p999),
    target_us_per_io: (if .ios > 0 then (.target_cpu.us_per_io // null) else null end),
    target_pct_core: (.target_cpu.pct_core // null),
    initiator_pct_core: .cpu.pct_core,
    initiator_us_per_io: .cpu.us_per_io,
    errors, exit, round };
def best($xs; f; better): [$xs[] | f | select(. != null)] | if length == 0 then null else better end;

$runs as $all
| ([$all[].workload] | first_seen) as $wls
| ([$all[].target] | first_seen) as $tgts
| (reduce $wls[] as $w ({};
     .[$w] = (reduce ($tgts[]) as $t ({};
       ([$all[] | select(.workload == $w and .target == $t)]) as $rs
       | if ($rs | length) == 0 then . else
           .[$t] = ($rs | median_run | figures) + {rounds: ($rs | length),
                                                  iops_all_rounds: [$rs[].iops]}
         end)))) as $summary
| (reduce $wls[] as $w ({};
     ([$summary[$w] | to_entries[] | select(.key | startswith("tgt-")) | .value | select(.ios > 0)]) as $ts
     | if ($ts | length) == 0 then . else
       .[$w] = {
         iops: best($ts; .iops; max), mb_s: best($ts; .mb_s; max),
         p50_us: best($ts; .p50_us; min), p99_us: best($ts; .p99_us; min),
         target_us_per_io: best($ts; .target_us_per_io; min) }
       end)) as $tgt_best
| (reduce $wls[] as $w ({};
     if $tgt_best[$w] == null then . else
     (reduce ($summary[$w] | to_entries[] | select(.key | startswith("vstor-")) | select(.value.ios > 0)) as $v ({};
       .[$v.key] = {
         iops: ratio($v.value.iops; $tgt_best[$w].iops),
         mb_s: ratio($v.value.mb_s; $tgt_best[$w].mb_s),
         p50_us: ratio($v.value.p50_us; $tgt_best[$w].p50_us),
         p99_us: ratio($v.value.p99_us; $tgt_best[$w].p99_us),
         target_us_per_io: ratio($v.value.target_us_per_io; $tgt_best[$w].target_us_per_io) })) as $r
     | if ($r | length) == 0 then . else .[$w] = $r end
     end)) as $ratios
| (if $iperf_bps > 0 then $iperf_bps / 8e6 else null end) as $iperf_mb_s
| {"vstor-ram": "spdk-malloc", "vstor-file": "spdk-aio"} as $spdk_peer
| def median: sort | if length == 0 then null
                     elif length % 2 == 1 then .[(length - 1) / 2]
                     else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def per_round($w; $v; $s; f):
    [ $all[] | select(.workload == $w and .target == $v and .ios > 0) | . as $x
      | ($all[] | select(.workload == $w and .target == $s and .round == $x.round and .ios > 0)) as $y
      | ratio($x | f; $y | f) | select(. != null) ];
  def spdk_pair($w; $v; $s):
    per_round($w; $v; $s; .iops) as $io
    | per_round($w; $v; $s; .target_cpu.us_per_io // null) as $cpu
    | { peer: $s, rounds: ($io | length),
        iops: ($io | median), iops_worst_round: ($io | min), iops_rounds: $io,
        target_us_per_io: ($cpu | median), target_us_per_io_worst_round: ($cpu | max),
        target_us_per_io_rounds: $cpu,
        p50_us: ratio($summary[$w][$v].p50_us // null; $summary[$w][$s].p50_us // null) };
  def per_round_wl($w1; $w0; $t; f):
    [ $all[] | select(.workload == $w1 and .target == $t and .ios > 0) | . as $x
      | ($all[] | select(.workload == $w0 and .target == $t and .round == $x.round and .ios > 0)) as $y
      | ratio($x | f; $y | f) | select(. != null) ];
  (reduce ($wls[] | select(endswith("-dig"))) as $w ({};
     ($w | rtrimstr("-dig")) as $w0
     | .[$w0] = (reduce $tgts[] as $t ({};
         per_round_wl($w; $w0; $t; .iops) as $r
         | if ($r | length) == 0 then . else
             .[$t] = { iops: ($r | median), iops_worst_round: ($r | min), iops_rounds: $r,
                       target_us_per_io: (per_round_wl($w; $w0; $t; .target_cpu.us_per_io // null) | median) }
           end)))) as $digest_ratios
| (reduce $wls[] as $w ({};
     (reduce ($spdk_peer | to_entries[]) as $p ({};
        if ($summary[$w][$p.key] // null) == null or ($summary[$w][$p.value] // null) == null then .
        else .[$p.key] = spdk_pair($w; $p.key; $p.value) end)) as $r
     | if ($r | length) == 0 then . else .[$w] = $r end)) as $spdk_ratios
| ([$tgts[] | select(startswith("vstor-"))]) as $vs
| def judge($value; $op; $limit):
    { value: $value,
      result: (if $value == null then "n/a"
               elif ($op == ">=" and $value >= $limit) or ($op == "<=" and $value <= $limit) then "PASS"
               else "MISS" end) };
  def rv($v; $w; f): ($ratios[$w][$v] // null) | if . == null then null else f end;
  def worst_cpu($v): [rv($v; "4k-randread-qd32"; .target_us_per_io), rv($v; "4k-randwrite-qd32"; .target_us_per_io)]
                     | map(select(. != null)) | if length == 0 then null else max end;
  def iperf_share($v): if $iperf_mb_s == null then null
         else ($summary["1m-seqread-qd8"][$v].mb_s // null) | if . == null or . == 0 then null else . / $iperf_mb_s end end;
  def bar($id; $text; $op; $limit; value):
    { id: $id, text: $text, op: $op, limit: $limit,
      by_target: (reduce $vs[] as $v ({}; .[$v] = judge($v | value; $op; $limit))) };
  # Issue 18: a ratio holds when the median of the interleaved rounds meets
  # it and no round is more than 5 % on the wrong side of it.
  def judge_rounds($r; $op; $limit):
    { value: $r.median, worst_round: $r.worst, rounds: $r.rounds,
      result: (if $r.median == null then "n/a"
               elif $op == ">=" and $r.median >= $limit and $r.worst >= 0.95 * $limit then "PASS"
               elif $op == "<=" and $r.median <= $limit and $r.worst <= $limit / 0.95 then "PASS"
               else "MISS" end) };
  def spdk_bar($id; $text; $op; $limit; $w; $fig):
    { id: $id, text: $text, op: $op, limit: $limit, peer: "spdk",
      by_target: (reduce $vs[] as $v ({};
        ($spdk_ratios[$w][$v] // null) as $s
        | .[$v] = judge_rounds(
            if $s == null then {median: null}
            elif $fig == "iops" then {median: $s.iops, worst: $s.iops_worst_round, rounds: $s.rounds}
            else {median: $s.target_us_per_io, worst: $s.target_us_per_io_worst_round, rounds: $s.rounds} end;
            $op; $limit))) };
  # The issue'"'"'s bars against SPDK are for the workloads without digests.
  def is_4k($w): $w | startswith("4k-") and (endswith("-dig") | not);
  def deep($w): ($all[] | select(.workload == $w) | .qd) >= 32;
{
  schema: "vstor-bench-compare/1",
  date: $date,
  machine: { cpu: $cpu, cpus: $ncpu, memory: $mem, kernel: $kernel,
             loadavg_start: $la0, loadavg_end: $la1,
             steal_pct: (if $steal == "" then null else ($steal | tonumber) end) },
  versions: { vstor: $rev, vstor_build_type: $build_type, tgt: $tgt, libiscsi: $libiscsi,
              spdk: (if $spdk_version == "" then null else $spdk_version end) },
  config: { duration_s: $duration, warmup_s: $warmup, rounds: $rounds,
            initiator_threads: $threads, lun_size: $size, tgt_only: ($tgt_only == 1),
            spdk: (if $spdk == "" then null else $spdk end),
            vstor_threads: (if $vstor_threads == "" then null else ($vstor_threads | tonumber) end),
            pinned: ($pinned == 1), digests: ($digests == 1) },
  iperf3: { bits_per_second: $iperf_bps, mb_s: $iperf_mb_s, time_s: $iperf_time },
  workloads: $wls,
  targets: $tgts,
  summary: $summary,
  tgt_best: $tgt_best,
  ratios: $ratios,
  seq_read_pct_of_iperf3: (if $iperf_mb_s == null then null else
      ($summary["1m-seqread-qd8"] // {} | with_entries(.value = (.value.mb_s / $iperf_mb_s * 100)))
    end),
  spdk_ratios: $spdk_ratios,
  digest_ratios: $digest_ratios,
  bars: ([
    bar("rr4k-qd32-iops"; "4K rand read QD32 IOPS >= 2.5x tgt"; ">="; 2.5; rv(.; "4k-randread-qd32"; .iops)),
    bar("rr4k-qd1-p50"; "4K rand read QD1 p50 <= 0.6x tgt"; "<="; 0.6; rv(.; "4k-randread-qd1"; .p50_us)),
    bar("rw4k-qd32-iops"; "4K rand write QD32 IOPS >= 2.5x tgt"; ">="; 2.5; rv(.; "4k-randwrite-qd32"; .iops)),
    bar("cpu-per-4k-io"; "target CPU per 4K I/O (QD32 rd+wr) <= 0.3x tgt"; "<="; 0.3; worst_cpu(.)),
    bar("sr1m-qd8-mbs"; "1M seq read QD8 MB/s >= 1.5x tgt"; ">="; 1.5; rv(.; "1m-seqread-qd8"; .mb_s)),
    bar("sr1m-qd8-iperf"; "1M seq read QD8 >= 70% of iperf3"; ">="; 0.70; iperf_share(.))
  ] + (if ($spdk_ratios | length) == 0 then [] else
    [ $wls[] | select(is_4k(.)) | . as $w
      | spdk_bar("spdk-\($w)-iops"; "\($w) IOPS >= 1.0x SPDK"; ">="; 1.0; $w; "iops") ]
    + [ $wls[] | select(is_4k(.) and ([deep(.)] | any)) | . as $w
      | spdk_bar("spdk-\($w)-cpu"; "\($w) CPU/IO <= SPDK"; "<="; 1.0; $w; "cpu") ]
    + [ $wls[] | select(startswith("1m-seq") and (endswith("-dig") | not)) | . as $w
      | spdk_bar("spdk-\($w)-mbs"; "\($w) MB/s >= 1.0x SPDK"; ">="; 1.0; $w; "iops") ]
    + [ $wls[] | select(. == "4k-randread-qd32") | . as $w
      | spdk_bar("spdk-\($w)-stretch"; "stretch: \($w) IOPS >= 1.2x SPDK"; ">="; 1.2; $w; "iops") ]
    end)
  + (if ($digest_ratios["1m-seqread-qd8"] // null) == null then [] else
    [ { id: "digest-sr1m-qd8", text: "1m-seqread-qd8 with digests >= 0.85x without", op: ">=",
        limit: 0.85, peer: "self",
        by_target: (reduce $vs[] as $v ({};
          ($digest_ratios["1m-seqread-qd8"][$v] // null) as $d
          | .[$v] = judge_rounds(if $d == null then {median: null}
                                 else {median: $d.iops, worst: $d.iops_worst_round, rounds: ($d.iops_rounds | length)} end;
                                 ">="; 0.85))) } ]
    end)),
  runs: $all
}'

# print_report RESULT.json — the human-readable view of the same document.
print_report() {
	jq -r '
def pad($n): tostring | if length >= $n then . else . + (" " * ($n - length)) end;
def lpad($n): tostring | if length >= $n then . else (" " * ($n - length)) + . end;
def n0: if . == null then "-" else round | tostring end;
def n1: if . == null then "-" else (. * 10 | round) / 10 | tostring end;
def n2: if . == null then "-" else (. * 100 | round) / 100 | tostring end;
def x: if . == null then "-" else ((. * 100 | round) / 100 | tostring) + "x" end;
# Bars judged over rounds: the median, the worst round in ( ), the verdict.
def round_bars($title):
  if length == 0 then empty else
    "", $title,
    ("" | pad(50)) + ([.[0].by_target | keys_unsorted[] | lpad(24)] | join("")),
    ( .[] | ("  " + .text | pad(50))
        + ([.by_target | to_entries[] | .value
            | (if .value == null then "-" else (.value | x) end)
              + (if .worst_round == null then "" else " (" + (.worst_round | x) + ")" end)
              + " " + .result | lpad(24)] | join("")) )
  end;
. as $d
| "",
  "vstor vs tgt on \(.machine.cpu) (\(.machine.cpus) CPUs), \(.config.duration_s) s per run, \(.config.rounds) round(s); load avg \(.machine.loadavg_start) -> \(.machine.loadavg_end)\(if .machine.steal_pct == null then "" else "; steal \(.machine.steal_pct) %" end)",
  "iperf3 single stream 127.0.0.1: \(.iperf3.mb_s | n0) MB/s",
  "",
  ("workload" | pad(21)) + ("target" | pad(11)) + ("IOPS" | lpad(9)) + ("MB/s" | lpad(9))
    + ("p50 us" | lpad(9)) + ("p99 us" | lpad(9)) + ("tgt us/IO" | lpad(10))
    + ("tgt %cpu" | lpad(9)) + ("ini %cpu" | lpad(9)) + ("errs" | lpad(6)),
  ( .workloads[] as $w | .targets[] as $t | $d.summary[$w][$t] // empty
    | ($w | pad(21)) + ($t | pad(11)) + (.iops | n0 | lpad(9)) + (.mb_s | n1 | lpad(9))
      + (.p50_us | n1 | lpad(9)) + (.p99_us | n1 | lpad(9)) + (.target_us_per_io | n2 | lpad(10))
      + (.target_pct_core | n0 | lpad(9)) + (.initiator_pct_core | n0 | lpad(9))
      + (.errors | tostring | lpad(6)) ),
  ( if (.ratios | length) == 0 then "", "(no vstor runs: no ratios)" else
      "",
      "vstor / tgt (tgt = the better of tgt-rdwr and tgt-aio for each figure)",
      ("workload" | pad(21)) + ("vstor" | pad(11)) + ("IOPS" | lpad(8)) + ("MB/s" | lpad(8))
        + ("p50" | lpad(8)) + ("p99" | lpad(8)) + ("CPU/IO" | lpad(8)),
      ( .workloads[] as $w | ($d.ratios[$w] // {}) | to_entries[]
        | ($w | pad(21)) + (.key | pad(11)) + (.value.iops | x | lpad(8)) + (.value.mb_s | x | lpad(8))
          + (.value.p50_us | x | lpad(8)) + (.value.p99_us | x | lpad(8))
          + (.value.target_us_per_io | x | lpad(8)) )
    end ),
  ( if (.spdk_ratios // {} | length) == 0 then empty else
      "",
      "vstor / SPDK (\(.versions.spdk // "SPDK")): median of \(.config.rounds) interleaved round(s), worst round in ( )\(if .config.pinned then "; targets pinned to CPU 0, initiator to CPU 1" else "" end)\(if .config.vstor_threads then "; vstord threads: \(.config.vstor_threads)" else "" end)",
      ("workload" | pad(21)) + ("vstor" | pad(11)) + ("peer" | pad(12)) + ("IOPS" | lpad(8)) + ("(worst)" | lpad(9))
        + ("CPU/IO" | lpad(8)) + ("(worst)" | lpad(9)) + ("p50" | lpad(8)),
      ( .workloads[] as $w | ($d.spdk_ratios[$w] // {}) | to_entries[]
        | ($w | pad(21)) + (.key | pad(11)) + (.value.peer | pad(12)) + (.value.iops | x | lpad(8))
          + ("(" + (.value.iops_worst_round | x) + ")" | lpad(9))
          + (.value.target_us_per_io | x | lpad(8))
          + ("(" + (.value.target_us_per_io_worst_round | x) + ")" | lpad(9))
          + (.value.p50_us | x | lpad(8)) )
    end ),
  ( if (.digest_ratios // {} | length) == 0 then empty else
      "",
      "with CRC32C header and data digests / without (median of the per-round ratios, worst round in ( ))",
      ("workload" | pad(21)) + ("target" | pad(12)) + ("IOPS" | lpad(8)) + ("(worst)" | lpad(9)) + ("CPU/IO" | lpad(8)),
      ( .workloads[] as $w | ($d.digest_ratios[$w] // {}) | to_entries[]
        | ($w | pad(21)) + (.key | pad(12)) + (.value.iops | x | lpad(8))
          + ("(" + (.value.iops_worst_round | x) + ")" | lpad(9)) + (.value.target_us_per_io | x | lpad(8)) )
    end ),
  "",
  ( if (.bars[0].by_target | length) == 0 then empty else
      "bars (vstor LUN / best tgt; PASS/MISS is reported, never enforced):",
      ("" | pad(50)) + ([.bars[0].by_target | keys_unsorted[] | lpad(16)] | join("")),
      ( .bars[] | select(.peer == null) | . as $b | ("  " + .text | pad(50))
          + ([.by_target | to_entries[] | .value
              | (if .value == null then "-" elif $b.id == "sr1m-qd8-iperf" then ((.value * 100 | round | tostring) + "%")
                 else (.value | x) end) + " " + .result | lpad(16)] | join("")) ),
      ([.bars[] | select(.peer == "self")]
       | round_bars("bars (vstor LUN with digests / itself without, median of the rounds, worst round in ( )):")),
      ([.bars[] | select(.peer == "spdk")]
       | round_bars("bars (vstor LUN / its SPDK peer: median of the rounds, worst round in ( ); a bar holds when the median meets it and no round is 5 % short):"))
    end ),
  ""
' "$1"
}
