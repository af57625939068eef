package job_test

import (
	"context"
	"fmt"
	"log"

	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/job"
)

type Thumbnail struct {
	Image string `json:"image"`
}

type AlbumReady struct {
	Album string `json:"album"`
}

var (
	MakeThumbnail = &job.Definition[Thumbnail]{
		Type:   "image.thumbnail",
		Handle: func(ctx context.Context, p Thumbnail) error { return nil },
	}
	PublishAlbum = &job.Definition[AlbumReady]{
		Type:      "album.publish",
		DedupeKey: job.ByTaskID[AlbumReady], // a redelivered callback is skipped
		Handle: func(ctx context.Context, p AlbumReady) error {
			st, err := job.BatchOf(ctx) // the batch that enqueued this callback
			if err != nil {
				return err
			}
			if st.Archived > 0 {
				return job.Permanent(fmt.Errorf("album %s: %d of %d thumbnails failed: %v", p.Album, st.Archived, st.Total, st.ArchivedIDs))
			}
			return nil // publish
		},
	}
)

// A batch runs its callback once, after every job added to it finished
// (completed, skipped as a duplicate, or archived), whatever happened to
// the workers meanwhile. (It needs a Redis and a worker running both job
// types, so it only compiles here.)
func ExampleNewBatch() {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", ContextTimeoutEnabled: true})
	defer rdb.Close()

	cb, err := job.OnComplete(PublishAlbum, AlbumReady{Album: "summer"})
	if err != nil {
		log.Fatal(err)
	}
	b, err := job.NewBatch(ctx, rdb, job.BatchOptions{OnComplete: cb})
	if err != nil {
		log.Fatal(err)
	}
	for _, img := range []string{"a.jpg", "b.jpg", "c.jpg"} {
		if _, err := MakeThumbnail.EnqueueIn(ctx, b, Thumbnail{Image: img}); err != nil {
			log.Fatal(err)
		}
	}
	if err := b.Close(ctx); err != nil {
		log.Fatal(err)
	}
	st, err := b.Status(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("batch %s: %d of %d finished\n", b.ID(), st.Done, st.Total)
}
