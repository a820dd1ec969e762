mkdir keydir
