package langsmith

import (
	"io"
	"mime"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/langsmith/api"
	"github.com/snapgate/snapgate/core"
)

// upload writes one file (POST /upload?path=): the SDKs send a multipart
// body whose part "file" is the content. The part is streamed into the
// sandbox, never held in memory; a non-multipart body is taken as the raw
// content (curl --data-binary).
func (a *API) upload(c *gin.Context) {
	files, err := a.files(c, opWrite)
	if err != nil {
		a.writeError(c, err)
		return
	}
	defer files.Close()
	content, err := uploadContent(c.Request)
	if err != nil {
		a.writeError(c, dataplaneErr(opWrite, err))
		return
	}
	info, err := files.Write(ctx(c), c.Query("path"), content)
	if err != nil {
		a.writeError(c, dataplaneErr(opWrite, err))
		return
	}
	c.JSON(http.StatusOK, api.DataplaneUploadResult{Path: info.Path, SizeBytes: info.Size})
}

// uploadContent returns the reader of the uploaded bytes: the multipart
// part named "file", else the body itself.
func uploadContent(r *http.Request) (io.Reader, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		return r.Body, nil
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, core.WithCause(core.ErrInvalidArgument, err, "malformed multipart body: %v", err)
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil, core.Errorf(core.ErrInvalidArgument, `multipart body has no part named "file"`)
		}
		if err != nil {
			return nil, core.WithCause(core.ErrInvalidArgument, err, "malformed multipart body: %v", err)
		}
		if part.FormName() == "file" {
			return part, nil
		}
	}
}
