/* sql_embed: the migrations of sql/, compiled in (build-aux/embed-sql.sh). */
#ifndef CHATDESK_SQL_EMBED_H
#define CHATDESK_SQL_EMBED_H

struct sql_migration {
	int		 version;
	const char	*name;
	const char	*sql;
};

extern const struct sql_migration sql_migrations[];
extern const int sql_nmigrations;
extern const char sql_archive_schema[];

#endif
