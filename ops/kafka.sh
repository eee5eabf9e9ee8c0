#!/usr/bin/env bash
# Runs a throwaway single-node Apache Kafka broker (KRaft, combined
# broker+controller) on loopback, from jars fetched off Maven Central.
#
#   ops/kafka.sh fetch              download the broker jars into the cache
#   ops/kafka.sh start DIR [PORT]   start a broker whose state lives in DIR;
#                                   prints its bootstrap address 127.0.0.1:PORT
#   ops/kafka.sh stop DIR           stop it (SIGTERM, then SIGKILL after 20 s)
#   ops/kafka.sh status DIR         exit 0 and say so if it runs, else exit 3
#   ops/kafka.sh kill DIR           SIGKILL it (a crash: no clean shutdown)
#
# A cluster of N nodes on loopback (default 3), each a combined broker and
# controller and a voter of the controller quorum, for fault tests:
#
#   ops/kafka.sh cluster-start DIR [N]  start the nodes together (or restart the
#                                   stopped ones of an existing DIR); prints the
#                                   bootstrap list 127.0.0.1:P1,127.0.0.1:P2,...
#   ops/kafka.sh cluster-stop DIR   stop every node (SIGTERM together, SIGKILL after 20 s)
#   ops/kafka.sh cluster-status DIR one line per node; exit 0 if all run, else 3
#   ops/kafka.sh controller DIR     the node id (K of DIR/nodeK) of the active
#                                   controller, as the running nodes last saw it
#
# Node K lives in DIR/nodeK (node.id K) with its own ports, which it keeps;
# start, stop, status and kill work on DIR/nodeK to crash or restart one node.
# The cluster's defaults: default.replication.factor min(N, 3),
# min.insync.replicas 2 (1 below 3 nodes), and the same for the offsets and
# transaction state topics. A node's default heap is smaller than a single
# broker's (-Xms64m -Xmx384m).
#
# The Kafka version is pinned in ops/kafka/pom.xml (<kafka.version>).
#
# Environment:
#   LLMQ_KAFKA_CACHE          jar cache (default ~/.cache/llmq/kafka-<version>)
#   LLMQ_KAFKA_PARTITIONS     partitions of auto-created topics (default 4)
#   LLMQ_KAFKA_HEAP_OPTS      JVM heap options (default -Xms128m -Xmx512m; cluster
#                             nodes -Xms64m -Xmx384m)
#   LLMQ_KAFKA_GC_OPTS        JVM garbage collector options (default -XX:+UseSerialGC)
#   LLMQ_KAFKA_START_TIMEOUT  seconds to wait for readiness (default 60)
#   JAVA_HOME                 used for java if set
#
# fetch also records a class-data-sharing archive of a broker start
# (CACHE/kafka.jsa, when the JVM supports it), which makes later starts
# about a second faster; starts work without it.
#
# DIR layout: server.properties, log4j.properties, data/ (log + metadata
# dirs), kafka.pid, kafka.log, cluster.id, bootstrap. Restarting a stopped
# DIR keeps its data (and its ports, when they are still free); remove DIR
# for a fresh broker. After a crash (no clean stop) a restart of the same DIR
# takes about 10 s longer: the controller refuses the broker's new
# registration until the old one's session (broker.session.timeout.ms, 9 s)
# has expired.
#
# A cluster DIR holds cluster.id (shared by the nodes), bootstrap (the list)
# and node1/ .. nodeN/, each laid out as above plus cluster.node (its id).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
POM=$HERE/kafka/pom.xml
KAFKA_VERSION=$(sed -n 's:.*<kafka\.version>\(.*\)</kafka\.version>.*:\1:p' "$POM")
[[ -n $KAFKA_VERSION ]] || { echo "kafka.sh: no <kafka.version> in $POM" >&2; exit 1; }
CACHE=${LLMQ_KAFKA_CACHE:-$HOME/.cache/llmq/kafka-$KAFKA_VERSION}
LIBS=$CACHE/libs
# The marker holds a hash of the pom, so editing the pom forces a new fetch.
MARKER=$CACHE/.complete
CDS_ARCHIVE=$CACHE/kafka.jsa

die() { echo "kafka.sh: $*" >&2; exit 1; }
log() { echo "kafka.sh: $*" >&2; }

java_bin() {
  if [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]]; then
    echo "$JAVA_HOME/bin/java"
  else
    echo java
  fi
}

pom_hash() { sha256sum "$POM" | cut -d' ' -f1; }

fetched() { [[ -f $MARKER && $(cat "$MARKER") == "$(pom_hash)" ]]; }

# java and mvn come from the distribution when missing (Debian, as root).
ensure_tools() {
  local missing=()
  command -v "$(java_bin)" >/dev/null || missing+=(default-jre-headless)
  command -v mvn >/dev/null || missing+=(maven)
  ((${#missing[@]} == 0)) && return 0
  if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
    die "missing ${missing[*]}; install java (11+) and maven"
  fi
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq "${missing[@]}" >&2
}

cmd_fetch() {
  # Java is needed to run the broker even when the jars are cached.
  if fetched; then
    command -v "$(java_bin)" >/dev/null || ensure_tools
    return 0
  fi
  ensure_tools
  mkdir -p "$CACHE"
  # Serialise concurrent fetches of the same cache.
  exec 9>"$CACHE/.lock"
  if command -v flock >/dev/null; then flock 9; fi
  if fetched; then exec 9>&-; return 0; fi
  log "fetching Kafka $KAFKA_VERSION jars from Maven Central into $LIBS"
  rm -rf "$LIBS" "$LIBS.tmp" "$MARKER"
  # runtime scope = compile + runtime dependencies, i.e. the broker classpath.
  # Maven's output is shown only on failure (even -q prints colour codes).
  local out
  out=$(mvn -q -B -f "$POM" dependency:copy-dependencies \
    -DincludeScope=runtime \
    -Dmdep.useRepositoryLayout=false \
    -DoutputDirectory="$LIBS.tmp" 2>&1) || {
    printf '%s\n' "$out" >&2
    die "maven could not resolve the Kafka $KAFKA_VERSION jars"
  }
  [[ -f $LIBS.tmp/kafka_2.13-$KAFKA_VERSION.jar ]] ||
    die "kafka_2.13-$KAFKA_VERSION.jar missing after the maven run"
  mv "$LIBS.tmp" "$LIBS"
  rm -f "$CDS_ARCHIVE"
  pom_hash >"$MARKER"
  record_cds_archive
  exec 9>&-
}

# Starts a broker in a scratch directory once, with the JVM writing the
# classes it loaded to an archive on exit; brokers started with that archive
# skip most class loading and verification. Failures here only cost speed.
record_cds_archive() {
  "$(java_bin)" -XX:+PrintFlagsFinal -version 2>/dev/null |
    grep -q ArchiveClassesAtExit || return 0
  log "recording a class-data-sharing archive of a broker start"
  local tmp port cport ok=0
  tmp=$(mktemp -d)
  read -r port cport < <(free_ports 2)
  write_server_properties "$tmp" "$port" "$cport"
  write_log4j_properties "$tmp"
  random_cluster_id >"$tmp/cluster.id"
  if format_storage "$tmp"; then
    launch "$tmp" -XX:ArchiveClassesAtExit="$CDS_ARCHIVE.tmp"
    wait_ready "$tmp" "$port" && ok=1
    # The archive is written while the JVM exits after SIGTERM.
    cmd_stop "$tmp" >/dev/null
  fi
  if ((ok)) && [[ -s $CDS_ARCHIVE.tmp ]]; then
    mv "$CDS_ARCHIVE.tmp" "$CDS_ARCHIVE"
  else
    log "no class-data-sharing archive (broker start failed); continuing without"
    rm -f "$CDS_ARCHIVE.tmp"
  fi
  rm -rf "$tmp"
}

# --- helpers for start/stop/status ------------------------------------------

abs_dir() { mkdir -p "$1" && (cd "$1" && pwd); }

# Serialises start/stop of one DIR (held until this script exits).
lock_dir() {
  command -v flock >/dev/null || return 0
  exec 8>"$1/.lock"
  flock 8
}

# Prints the pid if DIR's broker runs. The command line is checked as well so
# that a stale pid file pointing at a recycled pid is not taken for the broker.
running_pid() {
  local dir=$1 pid
  [[ -f $dir/kafka.pid ]] || return 1
  pid=$(cat "$dir/kafka.pid")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null |
    grep -qF -- "kafka.Kafka $dir/server.properties" || return 1
  echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Prints N distinct free loopback ports. python3 lets the kernel choose
# (all sockets are held open together so the ports differ); without it,
# random ports nobody listens on are picked.
free_ports() {
  local n=$1
  if command -v python3 >/dev/null; then
    python3 - "$n" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
  else
    local ports=() p
    while ((${#ports[@]} < n)); do
      p=$((20000 + RANDOM % 30000))
      [[ " ${ports[*]} " == *" $p "* ]] && continue
      port_open "$p" || ports+=("$p")
    done
    echo "${ports[*]}"
  fi
}

# Kafka cluster ids are 16 random bytes, base64url without padding
# (what `kafka-storage.sh random-uuid` prints); made here to save a JVM start. Like Kafka's
# own generator, never one that starts with '-': kafka-storage would read it as an option.
random_cluster_id() {
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    [[ $id != -* ]] && break
  done
  printf '%s\n' "$id"
}

# Reads key from a properties file.
prop() { sed -n "s/^$2=//p" "$1" | tail -n 1; }

write_server_properties() {
  local dir=$1 port=$2 cport=$3
  cat >"$dir/server.properties" <<EOF
# Single-node KRaft broker on loopback, written by ops/kafka.sh.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT

log.dirs=$dir/data

# Topics are created on first use.
auto.create.topics.enable=true
num.partitions=${LLMQ_KAFKA_PARTITIONS:-4}
default.replication.factor=1

# Only one broker: internal topics cannot have more than one replica.
# Their partition counts are cut down from 50 so they are created quickly.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
min.insync.replicas=1
EOF
  write_common_properties "$dir"
}

# The settings every broker of ops/kafka.sh shares, appended to DIR's server.properties.
write_common_properties() {
  cat >>"$1/server.properties" <<'EOF'

# Consumer groups form without the default 3 s wait for more members.
group.initial.rebalance.delay.ms=0

# Few threads: this broker serves tests, not load.
num.network.threads=2
num.io.threads=4
background.threads=4
num.recovery.threads.per.data.dir=1
EOF
}

# server.properties of node ID of an N-node cluster: VOTERS is the quorum
# (1@127.0.0.1:C1,2@...). Replicated as far as N allows, up to 3 copies, of
# which 2 must acknowledge a write (acks=all) when there are 3.
write_node_properties() {
  local dir=$1 id=$2 port=$3 cport=$4 voters=$5 n=$6 rf isr
  rf=$((n < 3 ? n : 3))
  isr=$((rf < 3 ? 1 : 2))
  cat >"$dir/server.properties" <<EOF
# Node $id of a $n-node KRaft cluster on loopback, written by ops/kafka.sh.
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT

log.dirs=$dir/data

auto.create.topics.enable=true
num.partitions=${LLMQ_KAFKA_PARTITIONS:-4}
default.replication.factor=$rf
min.insync.replicas=$isr

# Internal topics as safe as the others; partition counts cut down from 50.
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
transaction.state.log.num.partitions=4
EOF
  write_common_properties "$dir"
}

write_log4j_properties() {
  local dir=$1
  cat >"$dir/log4j.properties" <<'EOF'
# Broker logging, written by ops/kafka.sh: warnings only, except the lines
# that show startup progress. stdout goes to DIR/kafka.log.
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n

# "Kafka Server started" (readiness) and shutdown progress.
log4j.logger.kafka.server.KafkaRaftServer=INFO
log4j.logger.kafka.Kafka$=INFO
# Chatty at WARN during normal operation on a single node.
log4j.logger.org.apache.kafka.clients.NetworkClient=ERROR
log4j.logger.state.change.logger=ERROR
EOF
}

# Formats DIR/data with DIR's cluster id; a formatted DIR is left as is.
# A short-lived JVM, so only the quick-starting C1 compiler is used.
format_storage() {
  local dir=$1
  mkdir -p "$dir/data"
  "$(java_bin)" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Dlog4j.configuration="file:$dir/log4j.properties" \
    -cp "$LIBS/*" kafka.tools.StorageTool format --ignore-formatted \
    -t "$(cat "$dir/cluster.id")" -c "$dir/server.properties" \
    >"$dir/format.log" 2>&1
}

# Starts java in its own session so that signals aimed at the caller's
# process group (Ctrl-C, a test runner's cleanup) do not reach the broker.
# Extra JVM options may follow DIR. The serial collector suits a small heap
# on a machine with few cores.
launch() {
  local dir=$1
  shift
  local jvm=("$@")
  if ((${#jvm[@]} == 0)) && [[ -s $CDS_ARCHIVE ]]; then
    # An unusable archive (e.g. after a JVM upgrade) is ignored by the JVM.
    jvm=(-XX:SharedArchiveFile="$CDS_ARCHIVE")
  fi
  # Three nodes of a cluster share the machine: each gets a smaller heap.
  local heap="-Xms128m -Xmx512m"
  [[ -f $dir/cluster.node ]] && heap="-Xms64m -Xmx384m"
  # shellcheck disable=SC2086 # heap options are a word list
  setsid nohup "$(java_bin)" \
    ${LLMQ_KAFKA_HEAP_OPTS:-$heap} \
    ${LLMQ_KAFKA_GC_OPTS:--XX:+UseSerialGC} -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true "${jvm[@]}" \
    -Dlog4j.configuration="file:$dir/log4j.properties" \
    -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" \
    >"$dir/kafka.log" 2>&1 </dev/null 8>&- 9>&- &
  echo $! >"$dir/kafka.pid"
}

# Waits until the broker listens and has logged that startup finished
# (in combined mode that is after the broker was unfenced by the controller).
# Returns 0 when ready, 1 on timeout, 2 when the process died.
wait_ready() {
  local dir=$1 port=$2 timeout=${LLMQ_KAFKA_START_TIMEOUT:-60} pid
  pid=$(cat "$dir/kafka.pid")
  local deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    kill -0 "$pid" 2>/dev/null || return 2
    if grep -q 'Kafka Server started' "$dir/kafka.log" && port_open "$port"; then
      return 0
    fi
    sleep 0.2
  done
  return 1
}

cmd_start() {
  (($# >= 1 && $# <= 2)) || die "usage: kafka.sh start DIR [PORT]"
  local dir port=${2:-} cport='' cport2 pid
  dir=$(abs_dir "$1")
  not_cluster "$dir"
  lock_dir "$dir"

  # Already running: report it, after waiting for readiness in case another
  # start of the same DIR is still under way.
  if pid=$(running_pid "$dir"); then
    if [[ ! -f $dir/bootstrap ]]; then
      port=$(prop "$dir/server.properties" advertised.listeners | sed 's/.*://')
      wait_ready "$dir" "$port" || die "broker in $dir (pid $pid) runs but is not ready"
      echo "127.0.0.1:$port" >"$dir/bootstrap"
    fi
    cat "$dir/bootstrap"
    return 0
  fi
  [[ -z $port || $port =~ ^[0-9]+$ ]] || die "bad port: $port"

  cmd_fetch
  if [[ -f $dir/cluster.node ]]; then
    [[ -z $port ]] || die "a cluster node keeps its ports: kafka.sh start $dir"
    start_node "$dir"
    return
  fi

  # Keep the ports of an earlier run of this DIR when they are free.
  if [[ -f $dir/server.properties ]]; then
    local old_port old_cport
    old_port=$(prop "$dir/server.properties" advertised.listeners | sed 's/.*://')
    old_cport=$(prop "$dir/server.properties" controller.quorum.voters | sed 's/.*://')
    if [[ -z $port && -n $old_port ]] && ! port_open "$old_port"; then
      port=$old_port
    fi
    if [[ -n $old_cport && $old_cport != "$port" ]] && ! port_open "$old_cport"; then
      cport=$old_cport
    fi
  fi
  [[ -n $port ]] && port_open "$port" && die "port $port is already in use"
  if [[ -z $port ]]; then
    read -r port cport2 < <(free_ports 2)
    [[ -n $cport && $cport != "$port" ]] || cport=$cport2
  elif [[ -z $cport || $cport == "$port" ]]; then
    local p
    for p in $(free_ports 2); do [[ $p != "$port" ]] && { cport=$p; break; }; done
  fi

  write_server_properties "$dir" "$port" "$cport"
  write_log4j_properties "$dir"
  rm -f "$dir/bootstrap"

  # Format the storage once per DIR; later starts reuse data and cluster id.
  [[ -f $dir/cluster.id ]] || random_cluster_id >"$dir/cluster.id"
  format_storage "$dir" || {
    cat "$dir/format.log" >&2
    die "formatting $dir/data failed"
  }

  launch "$dir"
  ready_or_exit "$dir" "$port"
  echo "127.0.0.1:$port"
}

# Waits for the broker launched in DIR and records its address in DIR/bootstrap;
# when it does not get ready, stops it, shows the end of its log and exits 1.
ready_or_exit() {
  local dir=$1 port=$2 rc=0
  wait_ready "$dir" "$port" || rc=$?
  if ((rc != 0)); then
    if ((rc == 1)); then
      log "broker not ready after ${LLMQ_KAFKA_START_TIMEOUT:-60} s; stopping it"
      cmd_stop "$dir" >/dev/null
    else
      log "broker exited during startup"
      rm -f "$dir/kafka.pid"
    fi
    log "last lines of $dir/kafka.log:"
    tail -n 40 "$dir/kafka.log" >&2
    exit 1
  fi
  echo "127.0.0.1:$port" >"$dir/bootstrap"
}

# Restarts one node of a cluster with the settings and ports it was created with
# (the other nodes know it by them). Joins the running nodes; on its own it is
# not ready until a majority of the nodes runs.
start_node() {
  local dir=$1 port cport
  port=$(node_port "$dir")
  cport=$(prop "$dir/server.properties" listeners | sed 's/.*CONTROLLER:[/][/]127.0.0.1://')
  port_open "$port" && die "port $port of the node in $dir is in use"
  port_open "$cport" && die "controller port $cport of the node in $dir is in use"
  format_storage "$dir" || {
    cat "$dir/format.log" >&2
    die "formatting $dir/data failed"
  }
  rm -f "$dir/bootstrap"
  launch "$dir"
  ready_or_exit "$dir" "$port"
  echo "127.0.0.1:$port"
}

node_port() { prop "$1/server.properties" advertised.listeners | sed 's/.*://'; }

cmd_stop() {
  (($# == 1)) || die "usage: kafka.sh stop DIR"
  local dir pid
  [[ -d $1 ]] || { echo "not running"; return 0; }
  dir=$(abs_dir "$1")
  not_cluster "$dir"
  lock_dir "$dir"
  if ! pid=$(running_pid "$dir"); then
    rm -f "$dir/kafka.pid"
    echo "not running"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local i
  for ((i = 0; i < 100; i++)); do # 100 x 0.2 s = 20 s for a clean shutdown
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "broker (pid $pid) did not stop within 20 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "$dir/kafka.pid"
  echo "stopped"
}

cmd_status() {
  (($# == 1)) || die "usage: kafka.sh status DIR"
  local dir pid
  if [[ -d $1 ]] && dir=$(abs_dir "$1") && pid=$(running_pid "$dir"); then
    echo "running (pid $pid) on $(cat "$dir/bootstrap" 2>/dev/null || echo '?')"
    return 0
  fi
  echo "not running"
  return 3
}

# SIGKILL: the broker gets no chance to shut down cleanly, as in a crash.
cmd_kill() {
  (($# == 1)) || die "usage: kafka.sh kill DIR"
  local dir pid
  [[ -d $1 ]] || { echo "not running"; return 0; }
  dir=$(abs_dir "$1")
  lock_dir "$dir"
  if ! pid=$(running_pid "$dir"); then
    echo "not running"
    return 0
  fi
  kill -KILL "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  rm -f "$dir/kafka.pid"
  echo "killed"
}

# --- a cluster of nodes in DIR/node1..DIR/nodeN -----------------------------

# start and stop take a single broker's or a node's DIR, not a whole cluster's.
not_cluster() {
  [[ -z $(cluster_nodes "$1") ]] || die "$1 holds a cluster: use cluster-start, cluster-stop or $1/nodeK"
}

# The node directories of cluster DIR, in node order.
cluster_nodes() {
  local d
  for d in "$1"/node[0-9]*; do
    if [[ -f $d/cluster.node ]]; then echo "$d"; fi
  done | sort -V
}

# Creates the node directories of a new N-node cluster: server.properties with
# the whole quorum, the shared cluster id, the cluster.node marker.
cluster_create() {
  local dir=$1 n=$2 ports voters='' i node
  read -r -a ports < <(free_ports $((2 * n)))
  for ((i = 1; i <= n; i++)); do
    voters+="${voters:+,}$i@127.0.0.1:${ports[2 * i - 1]}"
  done
  random_cluster_id >"$dir/cluster.id"
  for ((i = 1; i <= n; i++)); do
    node=$dir/node$i
    mkdir -p "$node"
    write_node_properties "$node" "$i" "${ports[2 * i - 2]}" "${ports[2 * i - 1]}" "$voters" "$n"
    write_log4j_properties "$node"
    cp "$dir/cluster.id" "$node/cluster.id"
    echo "$i" >"$node/cluster.node"
  done
}

cmd_cluster_start() {
  (($# >= 1 && $# <= 2)) || die "usage: kafka.sh cluster-start DIR [N]"
  local dir n=${2:-3} nodes node started=() list=''
  [[ $n =~ ^[1-9]$ ]] || die "bad node count: $n (1-9)"
  dir=$(abs_dir "$1")
  lock_dir "$dir"
  cmd_fetch
  mapfile -t nodes < <(cluster_nodes "$dir")
  if ((${#nodes[@]} == 0)); then
    cluster_create "$dir" "$n"
    mapfile -t nodes < <(cluster_nodes "$dir")
  elif [[ -n ${2:-} && $n != "${#nodes[@]}" ]]; then
    die "$dir holds a ${#nodes[@]}-node cluster"
  fi
  # Together: no node is ready before a majority of the controllers runs.
  for node in "${nodes[@]}"; do
    running_pid "$node" >/dev/null && continue
    port_open "$(node_port "$node")" && die "port $(node_port "$node") of $node is in use"
    format_storage "$node" || {
      cat "$node/format.log" >&2
      die "formatting $node/data failed"
    }
    rm -f "$node/bootstrap"
    launch "$node"
    started+=("$node")
  done
  for node in "${started[@]}"; do
    wait_ready "$node" "$(node_port "$node")" || {
      log "node $node did not get ready; last lines of its log:"
      tail -n 40 "$node/kafka.log" >&2
      cluster_stop_nodes "${nodes[@]}" >/dev/null
      exit 1
    }
    echo "127.0.0.1:$(node_port "$node")" >"$node/bootstrap"
  done
  for node in "${nodes[@]}"; do list+="${list:+,}127.0.0.1:$(node_port "$node")"; done
  echo "$list" >"$dir/bootstrap"
  echo "$list"
}

# SIGTERM to every node at once (one by one, the last ones would wait for a
# quorum that is gone), SIGKILL to those still running after 20 s.
cluster_stop_nodes() {
  local node pid pids=() i
  for node in "$@"; do
    pid=$(running_pid "$node") || { rm -f "$node/kafka.pid"; continue; }
    kill -TERM "$pid" 2>/dev/null || true
    pids+=("$pid")
  done
  for pid in "${pids[@]}"; do
    for ((i = 0; i < 100; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "node (pid $pid) did not stop within 20 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  for pid in "${pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  done
  for node in "$@"; do rm -f "$node/kafka.pid"; done
  echo "stopped"
}

cmd_cluster_stop() {
  (($# == 1)) || die "usage: kafka.sh cluster-stop DIR"
  local dir nodes
  [[ -d $1 ]] || { echo "not running"; return 0; }
  dir=$(abs_dir "$1")
  lock_dir "$dir"
  mapfile -t nodes < <(cluster_nodes "$dir")
  cluster_stop_nodes "${nodes[@]}"
}

cmd_cluster_status() {
  (($# == 1)) || die "usage: kafka.sh cluster-status DIR"
  local dir nodes node line rc=0
  [[ -d $1 ]] || { echo "no cluster in $1"; return 3; }
  dir=$(abs_dir "$1")
  mapfile -t nodes < <(cluster_nodes "$dir")
  ((${#nodes[@]} > 0)) || { echo "no cluster in $dir"; return 3; }
  for node in "${nodes[@]}"; do
    line=$(cmd_status "$node") || rc=3
    echo "node $(cat "$node/cluster.node"): $line"
  done
  return $rc
}

# KRaft keeps the quorum's leader and its epoch in the metadata log's
# quorum-state file: the newest epoch among the running nodes names the leader.
cmd_controller() {
  (($# == 1)) || die "usage: kafka.sh controller DIR"
  local dir nodes node state epoch leader best=-1 id=''
  dir=$(abs_dir "$1")
  mapfile -t nodes < <(cluster_nodes "$dir")
  for node in "${nodes[@]}"; do
    running_pid "$node" >/dev/null || continue
    state=$(cat "$node/data/__cluster_metadata-0/quorum-state" 2>/dev/null) || continue
    epoch=$(sed -n 's/.*"leaderEpoch":\([0-9]*\).*/\1/p' <<<"$state")
    leader=$(sed -n 's/.*"leaderId":\([0-9]*\).*/\1/p' <<<"$state")
    [[ -n $epoch && -n $leader ]] && ((epoch > best)) && { best=$epoch; id=$leader; }
  done
  [[ -n $id ]] || die "no running node of $dir knows a controller"
  echo "$id"
}

case ${1:-} in
  fetch) shift; (($# == 0)) || die "usage: kafka.sh fetch"; cmd_fetch ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  status) shift; cmd_status "$@" ;;
  kill) shift; cmd_kill "$@" ;;
  cluster-start) shift; cmd_cluster_start "$@" ;;
  cluster-stop) shift; cmd_cluster_stop "$@" ;;
  cluster-status) shift; cmd_cluster_status "$@" ;;
  controller) shift; cmd_controller "$@" ;;
  *)
    echo "usage: kafka.sh fetch | start DIR [PORT] | stop DIR | status DIR | kill DIR" >&2
    echo "       | cluster-start DIR [N] | cluster-stop DIR | cluster-status DIR | controller DIR" >&2
    exit 2
    ;;
esac
