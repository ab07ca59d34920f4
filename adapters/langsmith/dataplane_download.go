package langsmith

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/core"
)

// download serves one file (GET and HEAD /download?path=) with what
// http.ServeContent implements: Range (206, 416), If-Range, If-None-Match
// against a strong ETag (304), Last-Modified.
func (a *API) download(c *gin.Context) {
	files, err := a.files(c, opRead)
	if err != nil {
		a.writeError(c, err)
		return
	}
	defer files.Close()
	f, info, err := files.Open(ctx(c), c.Query("path"))
	if err != nil {
		a.writeError(c, dataplaneErr(opRead, err))
		return
	}
	defer f.Close()
	c.Header("ETag", etag(info))
	http.ServeContent(c.Writer, c.Request, info.Name, info.ModTime, f)
}

// etag is a strong validator of a file's version: size and modification
// time in nanoseconds change on every write through any path.
func etag(info core.FileInfo) string {
	return fmt.Sprintf(`"%s-%s"`, strconv.FormatInt(info.Size, 36), strconv.FormatInt(info.ModTime.UnixNano(), 36))
}
