{{/*
Validated, normalised values. Every template reads these helpers instead of the raw values, so the 1.10 and
1.16 spellings give the same objects and an invalid value fails the render with a message saying what to use.
*/}}

{{/* kubeProxyReplacement: "true"|"false" (1.16) or "strict"|"probe"|"partial"|"disabled" (1.10). */}}
{{- define "cilium.kubeProxyReplacement" -}}
{{- $raw := .Values.kubeProxyReplacement -}}
{{- $v := "false" -}}
{{- if not (kindIs "invalid" $raw) -}}{{- $v = $raw | toString | lower | trim -}}{{- end -}}
{{- if eq $v "" -}}{{- $v = "false" -}}{{- end -}}
{{- if not (has $v (list "true" "false" "strict" "probe" "partial" "disabled")) -}}
{{- fail (printf "kubeProxyReplacement=%q is not valid: use \"true\" or \"false\" (Cilium 1.14+), or one of the 1.10 modes \"strict\", \"probe\", \"partial\", \"disabled\"" ($raw | toString)) -}}
{{- end -}}
{{- $v -}}
{{- end -}}

{{/* hostServices.protocols: "tcp,udp" | "tcp" | "udp" (order and spaces free). */}}
{{- define "cilium.hostServicesProtocols" -}}
{{- $p := .Values.hostServices.protocols | default "tcp,udp" | toString | lower | replace " " "" -}}
{{- $list := splitList "," $p -}}
{{- range $list -}}
{{- if not (has . (list "tcp" "udp")) -}}
{{- fail (printf "hostServices.protocols=%q is not valid: use \"tcp,udp\", \"tcp\" or \"udp\"" $p) -}}
{{- end -}}
{{- end -}}
{{- $p -}}
{{- end -}}

{{/* nodePort.range "min,max" (or "min-max"): 1 <= min < max <= 65535; rendered "min,max"; "" when unset. */}}
{{- define "cilium.nodePortRange" -}}
{{- $r := .Values.nodePort.range | default "" | toString | trim | replace "-" "," | replace " " "" -}}
{{- if ne $r "" -}}
{{- $parts := splitList "," $r -}}
{{- if ne (len $parts) 2 -}}
{{- fail (printf "nodePort.range=%q is not valid: use \"min,max\" such as \"30000,32767\"" (.Values.nodePort.range | toString)) -}}
{{- end -}}
{{- $min := index $parts 0 -}}
{{- $max := index $parts 1 -}}
{{- if not (and (regexMatch "^[0-9]+$" $min) (regexMatch "^[0-9]+$" $max)) -}}
{{- fail (printf "nodePort.range=%q is not valid: use \"min,max\" such as \"30000,32767\"" (.Values.nodePort.range | toString)) -}}
{{- end -}}
{{- if or (lt (atoi $min) 1) (gt (atoi $max) 65535) (ge (atoi $min) (atoi $max)) -}}
{{- fail (printf "nodePort.range=%q is not valid: need 1 <= min < max <= 65535" (.Values.nodePort.range | toString)) -}}
{{- end -}}
{{- printf "%s,%s" $min $max -}}
{{- end -}}
{{- end -}}

{{/* loadBalancer.algorithm: "" | random | maglev. */}}
{{- define "cilium.lbAlgorithm" -}}
{{- $a := .Values.loadBalancer.algorithm | default "" | toString | lower | trim -}}
{{- if not (has $a (list "" "random" "maglev")) -}}
{{- fail (printf "loadBalancer.algorithm=%q is not valid: use \"random\" or \"maglev\"" $a) -}}
{{- end -}}
{{- $a -}}
{{- end -}}

{{/* loadBalancer.mode: "" | snat | dsr | hybrid (dsr and hybrid need routingMode=native). */}}
{{- define "cilium.lbMode" -}}
{{- $m := .Values.loadBalancer.mode | default "" | toString | lower | trim -}}
{{- if not (has $m (list "" "snat" "dsr" "hybrid")) -}}
{{- fail (printf "loadBalancer.mode=%q is not valid: use \"snat\", \"dsr\" or \"hybrid\"" $m) -}}
{{- end -}}
{{- $m -}}
{{- end -}}

{{/* devices: a list or a space/comma separated string of interface names -> "eth0,eth1"; "" when unset. */}}
{{- define "cilium.devices" -}}
{{- $d := .Values.devices -}}
{{- if kindIs "slice" $d -}}{{- join "," $d -}}
{{- else if not (kindIs "invalid" $d) -}}{{- $d | toString | trim | replace " " "," -}}
{{- end -}}
{{- end -}}

{{/* 1.10 `tunnel`: "" | vxlan | geneve | disabled. */}}
{{- define "cilium.tunnel110" -}}
{{- $t := .Values.tunnel | default "" | toString | lower | trim -}}
{{- if not (has $t (list "" "vxlan" "geneve" "disabled")) -}}
{{- fail (printf "tunnel=%q is not valid: the 1.10 value takes \"vxlan\", \"geneve\" or \"disabled\" (with 1.14+ values use routingMode=tunnel|native and tunnelProtocol=vxlan|geneve)" $t) -}}
{{- end -}}
{{- $t -}}
{{- end -}}

{{/* routingMode: tunnel | native (empty: from the 1.10 tunnel value, else tunnel). */}}
{{- define "cilium.routingMode" -}}
{{- $t := include "cilium.tunnel110" . -}}
{{- $m := .Values.routingMode | default "" | toString | lower | trim -}}
{{- if eq $m "" -}}{{- $m = ternary "native" "tunnel" (eq $t "disabled") -}}{{- end -}}
{{- if not (has $m (list "tunnel" "native")) -}}
{{- fail (printf "routingMode=%q is not valid: use \"tunnel\" (encapsulation between nodes, see tunnelProtocol) or \"native\" (pod CIDRs routed by the network)" $m) -}}
{{- end -}}
{{- $m -}}
{{- end -}}

{{/* tunnelProtocol: vxlan | geneve (empty: the 1.10 tunnel value when it names one, else vxlan). */}}
{{- define "cilium.tunnelProtocol" -}}
{{- $t := include "cilium.tunnel110" . -}}
{{- $p := .Values.tunnelProtocol | default "" | toString | lower | trim -}}
{{- if eq $p "" -}}{{- $p = ternary $t "vxlan" (has $t (list "vxlan" "geneve")) -}}{{- end -}}
{{- if not (has $p (list "vxlan" "geneve")) -}}
{{- fail (printf "tunnelProtocol=%q is not valid: use \"vxlan\" or \"geneve\"" $p) -}}
{{- end -}}
{{- $p -}}
{{- end -}}

{{/* ipam.mode: cluster-pool | kubernetes. */}}
{{- define "cilium.ipamMode" -}}
{{- $m := .Values.ipam.mode | default "cluster-pool" | toString -}}
{{- if not (has $m (list "cluster-pool" "kubernetes")) -}}
{{- fail (printf "ipam.mode=%q is not supported by cilium-ts: use \"cluster-pool\" (the operator hands each node a CIDR from ipam.operator.clusterPoolIPv4PodCIDRList) or \"kubernetes\" (Node.spec.podCIDR)" $m) -}}
{{- end -}}
{{- $m -}}
{{- end -}}

{{/* Cluster pool CIDRs, space separated: the 1.10 string when set, else the list. Each is validated. */}}
{{- define "cilium.clusterPoolIPv4PodCIDRs" -}}
{{- $op := .Values.ipam.operator -}}
{{- $cidrs := list -}}
{{- if $op.clusterPoolIPv4PodCIDR -}}
{{- $cidrs = splitList " " (regexReplaceAll "[, ]+" ($op.clusterPoolIPv4PodCIDR | toString | trim) " ") -}}
{{- else if kindIs "slice" $op.clusterPoolIPv4PodCIDRList -}}
{{- $cidrs = $op.clusterPoolIPv4PodCIDRList -}}
{{- else if $op.clusterPoolIPv4PodCIDRList -}}
{{- $cidrs = splitList " " (regexReplaceAll "[, ]+" ($op.clusterPoolIPv4PodCIDRList | toString | trim) " ") -}}
{{- end -}}
{{- if eq (len $cidrs) 0 -}}
{{- fail "ipam.operator.clusterPoolIPv4PodCIDRList is empty: give at least one IPv4 CIDR, e.g. {10.0.0.0/8}" -}}
{{- end -}}
{{- $mask := int (include "cilium.clusterPoolIPv4MaskSize" .) -}}
{{- range $cidrs -}}
{{- $c := . | toString -}}
{{- if not (regexMatch "^(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){3}/([0-9]|[12][0-9]|3[0-2])$" $c) -}}
{{- fail (printf "cluster pool CIDR %q is not an IPv4 CIDR (ipam.operator.clusterPoolIPv4PodCIDRList / clusterPoolIPv4PodCIDR take values like 10.0.0.0/8)" $c) -}}
{{- end -}}
{{- $prefix := int (last (splitList "/" $c)) -}}
{{- if lt $mask $prefix -}}
{{- fail (printf "ipam.operator.clusterPoolIPv4MaskSize=%d is shorter than the prefix of the cluster pool %s: node CIDRs must fit inside it (use a mask size >= %d)" $mask $c $prefix) -}}
{{- end -}}
{{- end -}}
{{- join " " $cidrs -}}
{{- end -}}

{{- define "cilium.clusterPoolIPv4MaskSize" -}}
{{- $m := .Values.ipam.operator.clusterPoolIPv4MaskSize | default 24 | toString -}}
{{- if not (regexMatch "^[0-9]+$" $m) -}}
{{- fail (printf "ipam.operator.clusterPoolIPv4MaskSize=%q is not a number: give the prefix length of each node's pod CIDR, e.g. 24" $m) -}}
{{- end -}}
{{- if or (lt (int $m) 1) (gt (int $m) 30) -}}
{{- fail (printf "ipam.operator.clusterPoolIPv4MaskSize=%s is out of range: use 1..30 (each node needs room for a router address and pods)" $m) -}}
{{- end -}}
{{- $m -}}
{{- end -}}

{{/* Native routing CIDR: 1.16 ipv4NativeRoutingCIDR, else 1.10 nativeRoutingCIDR. */}}
{{- define "cilium.nativeRoutingCIDR" -}}
{{- .Values.ipv4NativeRoutingCIDR | default .Values.nativeRoutingCIDR | default "" -}}
{{- end -}}

{{/* hubble.metrics.enabled: a list (or a space/comma separated string) of metric names; empty: off. */}}
{{- define "cilium.hubbleMetrics" -}}
{{- $m := .Values.hubble.metrics.enabled -}}
{{- if kindIs "invalid" $m -}}
{{- else if kindIs "slice" $m -}}
{{- join " " $m -}}
{{- else if kindIs "string" $m -}}
{{- regexReplaceAll "[, ]+" (trim $m) " " -}}
{{- else -}}
{{- fail (printf "hubble.metrics.enabled=%v is not a list of metrics: give the metrics to serve, e.g. --set hubble.metrics.enabled=\"{dns,drop,tcp,flow,icmp,http}\"" $m) -}}
{{- end -}}
{{- end -}}

{{/* Monitor aggregation level (1.10 monitorAggregation wins when set). */}}
{{- define "cilium.monitorAggregation" -}}
{{- $a := .Values.monitorAggregation | default .Values.bpfMonitorAggregation | default "medium" | toString | lower -}}
{{- if not (has $a (list "none" "low" "medium" "maximum")) -}}
{{- fail (printf "bpfMonitorAggregation=%q is not valid: use none, low, medium or maximum" $a) -}}
{{- end -}}
{{- $a -}}
{{- end -}}

{{/* Image reference from {repository, tag, digest, useDigest} (+ optional suffix inserted after the name). */}}
{{- define "cilium.image" -}}
{{- $i := .image -}}
{{- $name := printf "%s%s" $i.repository (.suffix | default "") -}}
{{- if and $i.useDigest $i.digest -}}
{{- printf "%s:%s@%s" $name ($i.tag | toString) $i.digest -}}
{{- else -}}
{{- printf "%s:%s" $name ($i.tag | toString) -}}
{{- end -}}
{{- end -}}

{{/* Env for the API server address (kube-proxy-free). */}}
{{- define "cilium.k8sServiceEnv" -}}
{{- if .Values.k8sServiceHost }}
- name: KUBERNETES_SERVICE_HOST
  value: {{ .Values.k8sServiceHost | toString | quote }}
- name: KUBERNETES_SERVICE_PORT
  value: {{ .Values.k8sServicePort | default "443" | toString | quote }}
{{- end }}
{{- end -}}

{{- define "cilium.labels" -}}
app.kubernetes.io/part-of: cilium
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}
