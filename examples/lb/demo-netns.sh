#!/usr/bin/env bash
# The load balancer end to end on one machine (root): a client namespace, a
# balancer namespace running `tsbpf lb`, and three backend namespaces
# running `tsbpf lb --decap` with a UDP server on the VIP. The client sends
# 30 flows, backend be2 is removed from the configuration (the balancer
# reloads it), and the same 30 flows are sent again: be2's flows move, the
# others stay. Everything is removed at the end.
#   sudo bash examples/lb/demo-netns.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
TSBPF=(node --import tsx src/cli/main.ts)
VIP=10.250.0.100
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for ns in lbdemo-client lbdemo-lb lbdemo-be1 lbdemo-be2 lbdemo-be3; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

for ns in lbdemo-client lbdemo-lb lbdemo-be1 lbdemo-be2 lbdemo-be3; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip -n lbdemo-client link add c0 type veth peer name l0 netns lbdemo-lb
ip -n lbdemo-client addr add 10.200.0.1/24 dev c0 && ip -n lbdemo-client link set c0 up
ip -n lbdemo-lb addr add 10.200.0.2/24 dev l0 && ip -n lbdemo-lb link set l0 up
ip -n lbdemo-client route add $VIP/32 via 10.200.0.2
BACKENDS=""
for i in 1 2 3; do
  ip -n lbdemo-lb link add b$i type veth peer name e0 netns lbdemo-be$i
  ip -n lbdemo-lb addr add 10.201.$i.1/24 dev b$i && ip -n lbdemo-lb link set b$i up
  ip -n lbdemo-be$i addr add 10.201.$i.2/24 dev e0 && ip -n lbdemo-be$i link set e0 up
  ip -n lbdemo-be$i addr add $VIP/32 dev lo
  ip netns exec lbdemo-be$i sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.e0.rp_filter=0
  mac=$(ip -n lbdemo-be$i -j link show e0 | sed 's/.*"address":"\([^"]*\)".*/\1/')
  BACKENDS+="  - {name: be$i, address: 10.201.$i.2, interface: b$i, mac: \"$mac\"}"$'\n'
  ip netns exec lbdemo-be$i "${TSBPF[@]}" lb --decap --interface e0 --mode generic > "$WORK/decap$i.log" &
  PIDS+=($!)
  ip netns exec lbdemo-be$i node -e "
    const s = require('node:dgram').createSocket('udp4');
    s.on('message', (m, r) => console.log('be$i got flow ' + m + ' from ' + r.address + ':' + r.port));
    s.bind(8080, '$VIP');" >> "$WORK/received.log" &
  PIDS+=($!)
done
printf 'vips: [%s:8080/udp]\nbackends:\n%s' $VIP "$BACKENDS" > "$WORK/lb.yaml"
ip netns exec lbdemo-lb "${TSBPF[@]}" lb --config "$WORK/lb.yaml" --interface l0 --mode generic --interval 2 > "$WORK/lb.log" &
PIDS+=($!)
until grep -qs attached "$WORK/lb.log" && [ "$(cat "$WORK"/decap*.log 2>/dev/null | grep -c decapsulating)" = 3 ]; do sleep 0.2; done

send() { # 30 flows: client ports 30000-30029
  ip netns exec lbdemo-client node -e "
    const dgram = require('node:dgram');
    (async () => { for (let p = 30000; p < 30030; p++) {
      const s = dgram.createSocket('udp4');
      await new Promise((r) => s.bind(p, '10.200.0.1', r));
      await new Promise((r) => s.send(String(p), 8080, '$VIP', r));
      s.close();
    } })();"
  sleep 0.5
}
send
sort -k4 "$WORK/received.log" > "$WORK/before.log"
: > "$WORK/received.log"
grep -v be2 "$WORK/lb.yaml" > "$WORK/lb.yaml.new" && cat "$WORK/lb.yaml.new" > "$WORK/lb.yaml"
until grep -q "removed be2" "$WORK/lb.log"; do sleep 0.2; done
send
sort -k4 "$WORK/received.log" > "$WORK/after.log"
kill -INT "${PIDS[-1]}"; sleep 1
echo "== tsbpf lb"; cat "$WORK/lb.log"
echo "== flows per backend before: $(awk '{print $1}' "$WORK/before.log" | sort | uniq -c | tr -s ' ' | tr '\n' ',')"
echo "== flows per backend after:  $(awk '{print $1}' "$WORK/after.log" | sort | uniq -c | tr -s ' ' | tr '\n' ',')"
echo "== flows that moved:"
join -1 4 -2 4 -o 1.1,2.1,0 "$WORK/before.log" "$WORK/after.log" | awk '$1 != $2 {print "  flow " $3 ": " $1 " -> " $2}'
echo "== flows that stayed: $(join -1 4 -2 4 -o 1.1,2.1 "$WORK/before.log" "$WORK/after.log" | awk '$1 == $2' | wc -l)"
echo "== a backend sees the client's own address: $(head -1 "$WORK/after.log")"
