package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/snapgate/snapgate/core"
)

func serviceGrantCases() []storeCase {
	return []storeCase{
		{"service grant put, extend, get", testServiceGrantPut},
		{"service grants list and delete by tenant", testServiceGrantListDelete},
		{"service grant concurrent puts share one row", testServiceGrantConcurrent},
	}
}

func grant(tenant, sandbox string, port int, exp time.Time) *core.ServiceGrant {
	return &core.ServiceGrant{ID: newID(), TenantID: tenant, SandboxID: sandbox, Port: port, CreatedAt: base, ExpiresAt: exp}
}

// A port's first grant is inserted; a later put for the same port keeps
// the first id and creation time and moves the expiry only forward.
func testServiceGrantPut(t *testing.T, e env) {
	ctx := t.Context()
	g := grant("t1", "sb1", 8000, base.Add(time.Hour))
	first := *g
	if err := e.st.PutServiceGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	want := first
	want.CreatedAt, want.ExpiresAt = micro(first.CreatedAt), micro(first.ExpiresAt)
	diff(t, "inserted grant", &want, g)

	later := grant("t1", "sb1", 8000, base.Add(2*time.Hour))
	if err := e.st.PutServiceGrant(ctx, later); err != nil {
		t.Fatal(err)
	}
	want.ExpiresAt = micro(base.Add(2 * time.Hour))
	diff(t, "extended grant", &want, later)

	earlier := grant("t1", "sb1", 8000, base.Add(time.Minute))
	if err := e.st.PutServiceGrant(ctx, earlier); err != nil {
		t.Fatal(err)
	}
	diff(t, "grant after an earlier expiry", &want, earlier)

	got, err := e.st.GetServiceGrant(ctx, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "GetServiceGrant", &want, got)
	checkUTC(t, "grant times", got.CreatedAt, got.ExpiresAt)
	_, err = e.st.GetServiceGrant(ctx, "nope")
	wantErr(t, "GetServiceGrant(nope)", err, core.ErrNotFound)
}

// Listing and deleting see only the tenant's grants of the one sandbox;
// port 0 deletes every port; deleting nothing is no error; a port put
// again after its delete gets a new id.
func testServiceGrantListDelete(t *testing.T, e env) {
	ctx := t.Context()
	exp := base.Add(time.Hour)
	for _, g := range []*core.ServiceGrant{
		grant("t1", "sb1", 9000, exp), grant("t1", "sb1", 80, exp), grant("t1", "sb1", 3000, exp),
		grant("t1", "sb2", 80, exp), grant("t2", "sb3", 80, exp),
	} {
		if err := e.st.PutServiceGrant(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	ports := func(tenant, sandbox string) []int {
		t.Helper()
		gs, err := e.st.ListServiceGrants(ctx, tenant, sandbox)
		if err != nil {
			t.Fatal(err)
		}
		out := []int{}
		for _, g := range gs {
			out = append(out, g.Port)
		}
		return out
	}
	diff(t, "t1/sb1 ports", []int{80, 3000, 9000}, ports("t1", "sb1"))
	diff(t, "t2/sb1 ports", []int{}, ports("t2", "sb1"))

	if err := e.st.DeleteServiceGrants(ctx, "t2", "sb1", 80); err != nil {
		t.Fatal(err)
	}
	diff(t, "after another tenant's delete", []int{80, 3000, 9000}, ports("t1", "sb1"))
	old, err := e.st.ListServiceGrants(ctx, "t1", "sb1")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.DeleteServiceGrants(ctx, "t1", "sb1", 80); err != nil {
		t.Fatal(err)
	}
	diff(t, "after deleting port 80", []int{3000, 9000}, ports("t1", "sb1"))
	_, err = e.st.GetServiceGrant(ctx, old[0].ID)
	wantErr(t, "GetServiceGrant(deleted)", err, core.ErrNotFound)
	again := grant("t1", "sb1", 80, exp)
	if err := e.st.PutServiceGrant(ctx, again); err != nil {
		t.Fatal(err)
	}
	if again.ID == old[0].ID {
		t.Errorf("port 80 granted again kept the deleted grant's id")
	}
	if err := e.st.DeleteServiceGrants(ctx, "t1", "sb1", 0); err != nil {
		t.Fatal(err)
	}
	diff(t, "after deleting every port", []int{}, ports("t1", "sb1"))
	diff(t, "other sandbox untouched", []int{80}, ports("t1", "sb2"))
	if err := e.st.DeleteServiceGrants(ctx, "t1", "sb1", 0); err != nil {
		t.Errorf("deleting nothing: %v", err)
	}
}

// Puts racing on one port from several handles all succeed and all
// report the same grant.
func testServiceGrantConcurrent(t *testing.T, e env) {
	ctx := t.Context()
	const n = 8
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		st := e.st
		if i%2 == 1 {
			st = e.open(t)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := grant("t1", "sb1", 8000, base.Add(time.Duration(i+1)*time.Minute))
			errs[i] = st.PutServiceGrant(ctx, g)
			ids[i] = g.ID
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("put %d: %v", i, errs[i])
		}
		if ids[i] != ids[0] {
			t.Errorf("put %d got grant %s, put 0 got %s", i, ids[i], ids[0])
		}
	}
	gs, err := e.st.ListServiceGrants(ctx, "t1", "sb1")
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != 1 || !gs[0].ExpiresAt.Equal(micro(base.Add(n*time.Minute))) {
		t.Errorf("grants after racing puts: %+v, want one expiring at the latest", gs)
	}
}
