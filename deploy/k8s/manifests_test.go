// Package k8s holds snapgate's Kubernetes manifests (kustomize: base/ and
// overlays/) and the test that renders and checks them. Test-only Go.
package k8s

import (
	"path"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// rendered is a kustomization's output, decoded into the API types.
type rendered struct {
	namespaces      []*corev1.Namespace
	serviceAccounts []*corev1.ServiceAccount
	secrets         []*corev1.Secret
	services        []*corev1.Service
	daemonSets      []*appsv1.DaemonSet
	pdbs            []*policyv1.PodDisruptionBudget
	ingresses       []*networkingv1.Ingress
}

// render builds the kustomization in dir and strictly decodes every object:
// an unknown or misspelt field, a wrong type or a bad quantity fails.
func render(t *testing.T, dir string) *rendered {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out := &rendered{}
	bad := false
	for _, res := range m.Resources() {
		y, err := res.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		what := res.GetKind() + "/" + res.GetName()
		var obj any
		switch res.GetKind() {
		case "Namespace":
			obj = appendNew(&out.namespaces)
		case "ServiceAccount":
			obj = appendNew(&out.serviceAccounts)
		case "Secret":
			obj = appendNew(&out.secrets)
		case "Service":
			obj = appendNew(&out.services)
		case "DaemonSet":
			obj = appendNew(&out.daemonSets)
		case "PodDisruptionBudget":
			obj = appendNew(&out.pdbs)
		case "Ingress":
			obj = appendNew(&out.ingresses)
		default:
			t.Fatalf("%s: %s has no decoder in this test; add one", dir, what)
		}
		if err := yaml.UnmarshalStrict(y, obj); err != nil {
			t.Errorf("%s: %s does not decode strictly: %v", dir, what, err)
			bad = true
		}
	}
	if bad {
		t.FailNow() // checks of half-decoded objects would only add noise
	}
	return out
}

// appendNew appends a new zero object to *list and returns it.
func appendNew[T any](list *[]*T) *T {
	v := new(T)
	*list = append(*list, v)
	return v
}

func TestManifests(t *testing.T) {
	for _, dir := range []string{"base", "overlays/example"} {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			r := render(t, dir)
			if len(r.daemonSets) != 1 {
				t.Fatalf("%d DaemonSets, want 1", len(r.daemonSets))
			}
			ds := r.daemonSets[0]
			checkNamespaced(t, r)
			checkPod(t, r, ds)
			checkProbes(t, ds)
			checkHostMounts(t, ds)
			checkSecretRefs(t, r, ds, dir != "base")
			checkSelectors(t, r, ds)
		})
	}
}

func checkNamespaced(t *testing.T, r *rendered) {
	t.Helper()
	if len(r.namespaces) != 1 {
		t.Fatalf("%d Namespaces, want 1", len(r.namespaces))
	}
	ns := r.namespaces[0].Name
	var metas []metav1.ObjectMeta
	for _, o := range r.serviceAccounts {
		metas = append(metas, o.ObjectMeta)
	}
	for _, o := range r.secrets {
		metas = append(metas, o.ObjectMeta)
	}
	for _, o := range r.services {
		metas = append(metas, o.ObjectMeta)
	}
	for _, o := range r.daemonSets {
		metas = append(metas, o.ObjectMeta)
	}
	for _, o := range r.pdbs {
		metas = append(metas, o.ObjectMeta)
	}
	for _, o := range r.ingresses {
		metas = append(metas, o.ObjectMeta)
	}
	for _, m := range metas {
		if m.Namespace != ns {
			t.Errorf("%s is in namespace %q, want %q", m.Name, m.Namespace, ns)
		}
	}
}

func gateway(t *testing.T, ds *appsv1.DaemonSet) *corev1.Container {
	t.Helper()
	for i := range ds.Spec.Template.Spec.Containers {
		if c := &ds.Spec.Template.Spec.Containers[i]; c.Name == "snapgate" {
			return c
		}
	}
	t.Fatal("no container named snapgate")
	return nil
}

func env(c *corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

func checkPod(t *testing.T, r *rendered, ds *appsv1.DaemonSet) {
	t.Helper()
	pod := ds.Spec.Template.Spec
	if pod.NodeSelector["snapgate.dev/sandbox-node"] != "true" {
		t.Errorf("nodeSelector = %v, want snapgate.dev/sandbox-node: \"true\"", pod.NodeSelector)
	}
	if !pod.HostPID {
		t.Error("hostPID is off: the dataplane reaches sandboxes through /proc/<pid>/root")
	}
	if !pod.HostNetwork || pod.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
		// Sandboxes' links live in the gateway's network namespace and
		// outlive the pod; its own DNS must stay the cluster's.
		t.Errorf("hostNetwork %v, dnsPolicy %q: want the node's network and ClusterFirstWithHostNet", pod.HostNetwork, pod.DNSPolicy)
	}
	if len(r.serviceAccounts) != 1 || pod.ServiceAccountName != r.serviceAccounts[0].Name {
		t.Errorf("pod runs as service account %q, not the one rendered", pod.ServiceAccountName)
	}
	c := gateway(t, ds)
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[res]; !ok {
			t.Errorf("no %s request", res)
		}
	}
	if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
		t.Error("no memory limit")
	}
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Fatal("no securityContext")
	case sc.Privileged == nil || !*sc.Privileged:
		// Sandbox disks need the host's loop devices and Bidirectional
		// propagation, which Kubernetes grants privileged containers only.
		t.Error("the gateway is not privileged: sandbox disks cannot be mounted")
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Error("root filesystem is writable")
	}
	if v := env(c, "SNAPGATE_NODE_NAME"); v == nil || v.ValueFrom == nil || v.ValueFrom.FieldRef == nil ||
		v.ValueFrom.FieldRef.FieldPath != "spec.nodeName" {
		t.Error("SNAPGATE_NODE_NAME is not the node's name")
	}
}

// hasPort reports whether p names or numbers one of c's ports.
func hasPort(c *corev1.Container, p intstr.IntOrString) bool {
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return true
		}
	}
	return false
}

func checkProbes(t *testing.T, ds *appsv1.DaemonSet) {
	t.Helper()
	c := gateway(t, ds)
	for _, p := range []struct {
		what  string
		probe *corev1.Probe
		path  string
	}{
		{"liveness", c.LivenessProbe, "/healthz"},
		{"readiness", c.ReadinessProbe, "/readyz"},
		{"startup", c.StartupProbe, "/healthz"},
	} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("no HTTP %s probe", p.what)
			continue
		}
		g := p.probe.HTTPGet
		if g.Path != p.path {
			t.Errorf("%s probe on %s, want %s", p.what, g.Path, p.path)
		}
		if !hasPort(c, g.Port) {
			t.Errorf("%s probe port %s is not a container port", p.what, g.Port.String())
		}
	}
}

// checkHostMounts: the containerd socket, containerd's root and the data
// dir are host directories mounted at their host paths, since containerd
// and the gateway exchange host paths (FIFOs, overlay dirs, the init).
func checkHostMounts(t *testing.T, ds *appsv1.DaemonSet) {
	t.Helper()
	c := gateway(t, ds)
	hostPaths := map[string]string{}
	for _, v := range ds.Spec.Template.Spec.Volumes {
		if v.HostPath != nil {
			hostPaths[v.Name] = v.HostPath.Path
		}
	}
	// mountOf returns the host-path mount holding p at the same path.
	mountOf := func(p string) *corev1.VolumeMount {
		for i, m := range c.VolumeMounts {
			hp, ok := hostPaths[m.Name]
			if ok && hp == m.MountPath && (p == m.MountPath || strings.HasPrefix(p, m.MountPath+"/")) {
				return &c.VolumeMounts[i]
			}
		}
		return nil
	}
	for _, name := range []string{"SNAPGATE_CONTAINERD_ADDRESS", "SNAPGATE_DATA_DIR", "SNAPGATE_INIT_BINARY"} {
		v := env(c, name)
		if v == nil || v.Value == "" {
			t.Errorf("%s is not set", name)
			continue
		}
		m := mountOf(v.Value)
		if m == nil {
			t.Errorf("%s=%s is on no host path mounted at its own path", name, v.Value)
			continue
		}
		if name == "SNAPGATE_CONTAINERD_ADDRESS" {
			fifo := path.Join(path.Dir(v.Value), "fifo")
			if mountOf(fifo) == nil {
				t.Errorf("containerd's FIFO directory %s is not shared with the host", fifo)
			}
			if m.MountPropagation == nil || *m.MountPropagation != corev1.MountPropagationHostToContainer {
				t.Errorf("%s: mountPropagation %v, want HostToContainer", m.MountPath, m.MountPropagation)
			}
		}
	}
	if m := mountOf("/var/lib/containerd"); m == nil {
		t.Error("containerd's root is not mounted at its host path (captures read overlay upper directories)")
	} else if m.MountPropagation == nil || *m.MountPropagation != corev1.MountPropagationBidirectional {
		t.Errorf("containerd's root: mountPropagation %v, want Bidirectional (sandbox disks must reach containerd)", m.MountPropagation)
	}
}

func checkSecretRefs(t *testing.T, r *rendered, ds *appsv1.DaemonSet, secretRendered bool) {
	t.Helper()
	c := gateway(t, ds)
	for _, name := range []string{
		"SNAPGATE_DATABASE_URL", "SNAPGATE_SECRET_KEY", "SNAPGATE_SNAPSHOT_REGISTRY",
		"SNAPGATE_SNAPSHOT_REGISTRY_USERNAME", "SNAPGATE_SNAPSHOT_REGISTRY_PASSWORD",
	} {
		v := env(c, name)
		if v == nil || v.ValueFrom == nil || v.ValueFrom.SecretKeyRef == nil || v.Value != "" {
			t.Errorf("%s is not read from a Secret", name)
			continue
		}
		ref := v.ValueFrom.SecretKeyRef
		required := ref.Optional == nil || !*ref.Optional
		if (name == "SNAPGATE_DATABASE_URL" || name == "SNAPGATE_SECRET_KEY") && !required {
			t.Errorf("%s is optional: a gateway without its database must not start", name)
		}
		if !required || !secretRendered {
			continue
		}
		found := false
		for _, s := range r.secrets {
			_, inData := s.Data[ref.Key]
			_, inString := s.StringData[ref.Key]
			found = found || (s.Name == ref.Name && (inData || inString))
		}
		if !found {
			t.Errorf("%s refers to Secret %s key %s, which the kustomization does not render", name, ref.Name, ref.Key)
		}
	}
}

func checkSelectors(t *testing.T, r *rendered, ds *appsv1.DaemonSet) {
	t.Helper()
	pods := labels.Set(ds.Spec.Template.Labels)
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil || !sel.Matches(pods) {
		t.Errorf("the DaemonSet's selector %v does not select its pods %v", ds.Spec.Selector, pods)
	}
	if len(r.pdbs) != 1 {
		t.Fatalf("%d PodDisruptionBudgets, want 1", len(r.pdbs))
	}
	pdb := r.pdbs[0]
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Errorf("PDB maxUnavailable = %v, want 1", pdb.Spec.MaxUnavailable)
	}
	sel, err = metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil || sel.Empty() || !sel.Matches(pods) {
		t.Errorf("the PDB's selector %v does not select the gateway pods %v", pdb.Spec.Selector, pods)
	}
	if len(r.services) != 1 {
		t.Fatalf("%d Services, want 1", len(r.services))
	}
	svc := r.services[0]
	if svc.Spec.Type != corev1.ServiceTypeClusterIP || len(svc.Spec.Selector) == 0 ||
		!labels.SelectorFromSet(svc.Spec.Selector).Matches(pods) {
		t.Errorf("Service %s (%s) does not front the gateway pods %v", svc.Name, svc.Spec.Type, pods)
	}
	for _, sp := range svc.Spec.Ports {
		if !hasPort(gateway(t, ds), sp.TargetPort) {
			t.Errorf("Service port %s targets %s, not a gateway port", sp.Name, sp.TargetPort.String())
		}
	}
	for _, ing := range r.ingresses {
		for _, rule := range ing.Spec.Rules {
			for _, p := range rule.HTTP.Paths {
				if b := p.Backend.Service; b == nil || b.Name != svc.Name {
					t.Errorf("Ingress %s host %s goes to %v, not Service %s", ing.Name, rule.Host, p.Backend.Service, svc.Name)
				}
			}
		}
	}
}
