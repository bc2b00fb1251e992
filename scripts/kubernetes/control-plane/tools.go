//go:build tools

// Package controlplane pins the Kubernetes control-plane commands the test bed builds, and kubectl for its operator
// (scripts/install-kubernetes.sh builds each with `go build k8s.io/kubernetes/cmd/<name>`).
package controlplane

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
