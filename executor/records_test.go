package executor

import (
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/benchform/benchform/executor/workload"
	"github.com/benchform/benchform/state"
)

// TestRecordRoundTrip fills every field of a workload.Record, stores it
// and reads it back: a field one of the two conversions forgets shows up
// as a difference, so that adding one to Record cannot lose it in state
// unnoticed.
func TestRecordRoundTrip(t *testing.T) {
	var r workload.Record
	v := reflect.ValueOf(&r).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString(v.Type().Field(i).Name)
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Int, reflect.Int64:
			f.SetInt(int64(100 + i))
		case reflect.Slice:
			switch f.Type() {
			case reflect.TypeOf([]time.Duration(nil)):
				f.Set(reflect.ValueOf([]time.Duration{time.Millisecond, 2 * time.Millisecond}))
			case reflect.TypeOf([]uint32(nil)):
				f.Set(reflect.ValueOf([]uint32{1, 2, 3}))
			default:
				t.Fatalf("field %s: no test value for %s", v.Type().Field(i).Name, f.Type())
			}
		default:
			t.Fatalf("field %s: no test value for %s", v.Type().Field(i).Name, f.Type())
		}
	}
	back := WorkloadRecords([]state.RequestRecord{storedRecord(7, 3, r)})
	if diff := cmp.Diff([]workload.Record{r}, back); diff != "" {
		t.Errorf("a record stored and read back (-want +got):\n%s", diff)
	}
}
